// `vakt demo`: what a run is given (DemoOptions), what it reports (DemoSummary, one DemoStep per
// checked step), what it must close whatever happens (DemoResources) and what its steps share (DemoRun).
import type { HesLink } from '../../bridge/hes-link.ts';
import type { Hes } from '../../hes/hes.ts';
import type { ModemPort } from '../../bridge/modem.ts';
import type { ConsoleOptions } from '../live.ts';
import type { DemoNetwork } from './network.ts';
import type { Simulation } from './simulation.ts';

/** One line of the summary: what was done and whether it did what it should. */
export interface DemoStep {
  step: string;
  ok: boolean;
  detail: string;
}

/** Records one step of the summary (and logs it as it happens). */
export type StepFn = (name: string, ok: boolean, detail: string) => void;

/** What the demo did and measured (the --json output). */
export interface DemoSummary {
  ok: boolean;
  meters: number;
  ptyMeters: number;
  inProcessMeters: number;
  concentrators: number;
  socat: boolean;
  notice?: string;
  readingsStored: number;
  metersWithReadings: number;
  /** Meters whose newest stored reading has a positive energy register (the sim board's synthetic load reached the meter as pulses). */
  metersWithEnergy: number;
  simulatedHours: number;
  seconds: number;
  serial: { stalls: number; reopens: number; resent: number };
  hesIngest: { [outcome: string]: number };
  steps: DemoStep[];
  dir?: string;
}

/** Options of runDemo (the CLI's flags, already validated). */
export interface DemoOptions {
  meters: number;
  pty: number;
  intervals: number;
  socat: boolean;
  dir?: string;
  log: (line: string) => void;
  progress?: (title: string, total: number) => { update(n: number): void; stop(): void };
  /** Keep running after the steps with the web console served (see live.ts). */
  console?: ConsoleOptions;
}

/** What a run opened: runDemo closes the links, then the modems, then the rest in reverse order. */
export interface DemoResources {
  links: HesLink[];
  modems: ModemPort[];
  cleanup: (() => Promise<void> | void)[];
}

/** A run in progress, as its steps see it: the options, the HES, the network and its loop, and the summary's step list. */
export interface DemoRun {
  o: DemoOptions;
  hes: Hes;
  net: DemoNetwork;
  sim: Simulation;
  step: StepFn;
}
