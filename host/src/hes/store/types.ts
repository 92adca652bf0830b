// The HES store interface (issue 14, /work/seams/store.md, docs/HOST.md "Store interface").
//
// One interface, two implementations: SQLite (store/sqlite/*, better-sqlite3, the default) and
// PostgreSQL (store/postgres/*). Every method returns a Promise; each method is ONE transaction
// (one round trip on PostgreSQL) unless it says otherwise, and either commits everything it was
// given or nothing. The HES verifies frames in memory (keys and last counters cached per node):
// the cache is a hint, the conditional statements below are the truth.
//
// Bytes: every Uint8Array a method returns may be a Buffer; the caller copies what it keeps.
// Times are milliseconds since the epoch (…Ms) or seconds (t, the meter's interval time).
// Audit: every method taking `audit` appends those entries, in order, in the same transaction,
// to the ONE audit chain; the append is serialised in the store (SQLite: the single writer;
// PostgreSQL: the chain head row locked FOR UPDATE in that transaction) and the store computes
// each entry's MAC with the audit key it was opened with (audit.ts entryMac).
import type { CommandKind, CommandState } from '../commands.ts';
import type { Role } from '../roles.ts';

export type Bytes = Uint8Array;

// ---------------------------------------------------------------------------------- errors

/**
 * A conditional write found the store changed by another writer (a key row's version, a command's
 * state or claim): nothing of the unit was committed. The HES reloads the affected state and retries.
 */
export class StaleStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StaleStoreError';
  }
}

/**
 * The store itself failed (I/O, disk full, connection lost, serialisation failure after retries):
 * nothing of the unit was committed; the frames may be good, so nothing is acknowledged. Any other
 * error class thrown by a store method is a bug or a constraint violation caused by the data.
 */
export class StoreFaultError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'StoreFaultError';
  }
}

// ---------------------------------------------------------------------------------- audit

/** One entry to append; the store assigns seq (1, 2, … without gaps) and chains prev/mac. */
export interface AuditAppend {
  actor: string;
  action: string;
  subject: string;
  /** A string is stored as is; anything else as JSON.stringify(detail ?? {}). */
  detail: unknown;
  tsMs: number;
}

/** A stored entry as the verifier reads it. */
export interface AuditRow {
  seq: number;
  tsMs: number;
  actor: string;
  action: string;
  subject: string;
  detail: string;
  prev: Bytes;
  mac: Bytes;
}

/** The chain head kept next to the chain (meta 'audit_head'): cutting entries off the end is detected. */
export interface AuditHead {
  seq: number;
  mac: Bytes;
}

// ---------------------------------------------------------------------------------- opening

/** What every implementation is opened with (besides its location). */
export interface StoreOpenOptions {
  /** HMAC key of the audit chain (storekey.ts deriveStoreKeys().audit). */
  auditKey: Bytes;
  /** SQLite only: 'full' (default) survives power loss, 'normal' process crashes only. */
  synchronous?: 'full' | 'normal';
  /** This node's name (claims, leases); default 'hes'. */
  node?: string;
}

/** Everything `vakt hes init` writes, in one transaction (refused when the store is initialised). */
export interface StoreInit {
  hesId: Bytes;
  /** meta rows: schema_version, hes_id, store_key_check, hes_x25519 (encrypted by the caller). */
  meta: { k: string; v: Bytes }[];
  kpeKeys: Bytes[];
  admin: { name: string; createdMs: number };
  audit: AuditAppend[];
}

// ---------------------------------------------------------------------------------- devices and keys

export type KeyKind = 'ring' | 'lk';
export type KeyState = 'active' | 'retired';

/** An encrypted key row (kms.ts encrypts; the store never sees a key in clear). */
export interface KeyRow {
  owner: Bytes;
  kind: KeyKind;
  scope: number;
  gen: number;
  state: KeyState;
  enc: Bytes;
  createdMs: number;
  ver: number;
}

export interface ConcentratorRow {
  id: Bytes;
  linkGen: number;
}

export interface MeterRow {
  id: Bytes;
  concentratorId: Bytes;
  linkGen: number;
  shortAddr: number;
  tagFailures: number;
  maxGen: number;
}

/** Stored load-profile progress of one meter (recomputed from readings at load). */
export interface ReadingProgress {
  meter: Bytes;
  /** Highest stored interval. */
  maxSeq: number;
  /** Every interval 1..contig is stored (0 when interval 1 is not). */
  contig: number;
  /** Stored intervals above contig + 1. */
  above: number[];
}

/** Everything the HES caches in memory, read in one snapshot (one read transaction). */
export interface DeviceSnapshot {
  concentrators: ConcentratorRow[];
  meters: MeterRow[];
  /** Active key rows only. */
  keys: KeyRow[];
  progress: ReadingProgress[];
}

/** A whole KPE shipment, imported in one transaction. */
export interface ShipmentImport {
  id: Bytes;
  kpePub: Bytes;
  seq: number;
  createdMs: number;
  importedMs: number;
  concentrators: { id: Bytes; linkGen: number }[];
  meters: { id: Bytes; concentratorId: Bytes; linkGen: number; shortAddr: number }[];
  /** Key rows (ver 0) of every device in the shipment. */
  keys: Omit<KeyRow, 'ver'>[];
  audit: AuditAppend[];
}

// ---------------------------------------------------------------------------------- replay state

/**
 * A receiving key's replay row: (sender, layer, op, dir, gen). layer = E2E_VERSION or BACKHAUL_VERSION;
 * op = the operation (link: 0); KC slots of a key update use op = 0x100 + scope (hes KC_PSEUDO_OP).
 */
export interface ReplayKey {
  sender: Bytes;
  layer: number;
  op: number;
  dir: number;
  gen: number;
}

export interface ReplayState {
  /** Highest accepted counter (0: none). */
  last: number;
  /** The end-to-end frame accepted with `last`, byte for byte (null for link keys or none): a resend after a restart is recognised as a duplicate. */
  frame: Bytes | null;
}

export interface ReplayAdvance extends ReplayKey {
  last: number;
  frame: Bytes | null;
}

// ---------------------------------------------------------------------------------- sending counters

/** A sending key of the HES (send_ctr row): receiver, layer, op (link: 0), gen. */
export interface SendKey {
  receiver: Bytes;
  layer: number;
  op: number;
  gen: number;
}

/** Counter values [lo, hi) reserved for the caller alone, forever; lo === hi: the key is exhausted. */
export interface SendRange {
  lo: number;
  hi: number;
}

// ---------------------------------------------------------------------------------- commands

export interface CommandRow {
  id: number;
  meterId: Bytes;
  kind: CommandKind;
  op: number;
  /** JSON of CommandParams. */
  params: string;
  state: CommandState;
  actor: string;
  createdMs: number;
  updatedMs: number;
  expiresMs: number;
  attempts: number;
  nextTryMs: number;
  /** JSON or null. */
  result: string | null;
}

export interface NewCommand {
  meterId: Bytes;
  kind: CommandKind;
  op: number;
  params: string;
  actor: string;
  createdMs: number;
  expiresMs: number;
}

export interface CommandFilter {
  meter?: Bytes;
  state?: CommandState;
  limit: number;
}

// ---------------------------------------------------------------------------------- units of work

/**
 * The writes of one unit (commit / commitIngest frame), applied in order. Conditional writes
 * (marked) that do not match throw StaleStoreError for the whole unit, except where noted.
 */
export type StoreWrite =
  /** Appended to the chain in order with the other writes. */
  | { kind: 'audit'; entry: AuditAppend }
  /** INSERT … ON CONFLICT (seq, meter_id) DO NOTHING. Result: { inserted }. */
  | {
      kind: 'reading';
      meter: Bytes;
      seq: number;
      t: number;
      wh: number;
      w: number;
      counter: number;
      gen: number;
      via: Bytes;
      receivedMs: number;
    }
  | { kind: 'registerRead'; meter: Bytes; req: number; t: number; wh: number; w: number; receivedMs: number }
  /** Inserted unless an event (meter, code, t, detail) is stored (conditional, not stale: result { inserted }). */
  | { kind: 'event'; meter: Bytes; code: number; t: number; detail: string | null; receivedMs: number }
  /** meters.tag_failures / last_error. */
  | { kind: 'meterHealth'; meter: Bytes; tagFailures: number; lastError: string | null }
  /** meters.max_gen = maxGen WHERE max_gen < maxGen (never lowered; no match is not stale). */
  | { kind: 'meterMaxGen'; meter: Bytes; maxGen: number }
  /**
   * Key row upsert. expectVer undefined: INSERT (the row must not exist, else StaleStoreError).
   * expectVer = n: UPDATE … SET state, enc, ver = n + 1 WHERE <row> AND ver = n (CONDITIONAL).
   * Result: { ver } (the stored version after the write).
   */
  | { kind: 'key'; row: Omit<KeyRow, 'ver'>; expectVer?: number }
  /** INSERT; then appends audit { actor, 'command.queued', `${hex(meterId)}#${id}`, params JSON, createdMs }. Result: { id }. */
  | { kind: 'insertCommand'; cmd: NewCommand }
  /**
   * UPDATE commands SET state, params, attempts, next_try_ms, updated_ms, result, claim released
   * WHERE id AND state = expect (CONDITIONAL), then appends `audit` if given.
   */
  | {
      kind: 'updateCommand';
      id: number;
      expect: CommandState;
      state: CommandState;
      params: string;
      attempts: number;
      nextTryMs: number;
      updatedMs: number;
      result: string | null;
      audit?: AuditAppend;
    };

/** Per-write result, same index as the writes. */
export type WriteResult = { inserted: boolean } | { ver: number } | { id: number } | null;

/** One link frame's part of an ingest commit. */
export interface IngestFrame {
  /**
   * The end-to-end counter advance this frame's data depends on (null: refusals, link-only frames).
   * CONDITIONAL, per frame: INSERT … ON CONFLICT (key) DO UPDATE SET last, frame WHERE replay.last < $last.
   * Won = the row was inserted or updated. A frame whose advance lost has NONE of its writes applied.
   */
  advance: ReplayAdvance | null;
  writes: StoreWrite[];
}

export interface IngestCommit {
  /** Link-layer (backhaul) counters: last = max(last, $last), unconditional (see store.md). */
  link: ReplayAdvance[];
  frames: IngestFrame[];
}

export type IngestFrameResult =
  | { won: true; results: WriteResult[] }
  /** The advance lost: the stored state now (higher or equal counter; its frame tells a duplicate from a replay). */
  | { won: false; current: ReplayState }
  /** This frame's writes violated a constraint: rolled back alone (savepoint), the rest committed. */
  | { won: false; fault: string };

// ---------------------------------------------------------------------------------- users

export interface UserRow {
  name: string;
  role: Role;
  createdMs: number;
  password: boolean;
  tokens: number;
}

export type TokenKind = 'api' | 'session' | 'login';

export interface TokenRow {
  id: string;
  user: string;
  role: Role;
  kind: TokenKind;
  hash: Bytes;
  csrfHash: Bytes | null;
  label: string;
  createdMs: number;
  expiresMs: number;
  revokedMs: number | null;
  lastUsedMs: number | null;
}

export interface LoginFailure {
  count: number;
  firstMs: number;
  lockedUntilMs: number;
}

// ---------------------------------------------------------------------------------- queries

export interface LoadProfilePoint {
  seq: number;
  t: number;
  wh: number;
  w: number;
  receivedMs: number;
}
export interface RegisterRead {
  id: number;
  t: number;
  wh: number;
  w: number;
  receivedMs: number;
}
export interface MeterEvent {
  id: number;
  meter: Bytes;
  code: number;
  t: number;
  detail: string | null;
  receivedMs: number;
}
export interface SecurityEventRow {
  seq: number;
  tsMs: number;
  action: string;
  subject: string;
  actor: string;
  detail: string;
}
/** t in seconds, inclusive; after = cursor (seq or id); limit rows. */
export interface TimeRange {
  from: number;
  to: number;
  after: number;
  limit: number;
}

// ---------------------------------------------------------------------------------- campaigns

export interface CampaignRow {
  id: number;
  kind: string;
  actor: string;
  params: string;
  createdMs: number;
  states: { [state: string]: number };
  skipped: number;
}

// ---------------------------------------------------------------------------------- lease

export interface LeaseRow {
  node: string;
  holder: string;
  pid: number;
  host: string;
  startedMs: number;
  renewedMs: number;
}

// ---------------------------------------------------------------------------------- the interface

export interface HesStore {
  /** 'sqlite' | 'postgres': for messages and tests only; the HES never branches on it. */
  readonly kind: string;
  /** Where it is (file path or URL without password), for messages. */
  readonly location: string;

  // --- lifecycle and meta
  /** Creates schema + meta + pinned KPE keys + first admin + audit, one transaction; HesError-like Error when already initialised. */
  initialise(init: StoreInit): Promise<void>;
  /** A meta value (hes_id, store_key_check, hes_x25519, …) or undefined. */
  meta(k: string): Promise<Bytes | undefined>;
  /**
   * A token that changes whenever another connection committed a change to devices (import), key
   * rows or meters.max_gen (it may change more often: SQLite uses PRAGMA data_version). The HES
   * reloads its in-memory key state when it moved. Commands and replay rows are not cached as
   * truth, so their changes need not move it.
   */
  changeVersion(): Promise<number>;
  /** Closes (idempotent); every committed unit is durable. */
  close(): Promise<void>;

  // --- devices, keys, shipments (KMS)
  loadDevices(): Promise<DeviceSnapshot>;
  pinnedKpeKeys(): Promise<Bytes[]>;
  /** INSERT … ON CONFLICT DO NOTHING, + audit. */
  pinKpeKey(pub: Bytes, addedMs: number, audit: AuditAppend[]): Promise<void>;
  /** Whether a shipment id was imported, and the highest seq imported from that KPE key (null: none). */
  shipmentSeen(id: Bytes, kpePub: Bytes): Promise<{ seen: boolean; lastSeq: number | null }>;
  /** Device ids among `ids` that are already provisioned (meters or concentrators). */
  provisioned(ids: Bytes[]): Promise<Bytes[]>;
  /** One transaction: shipment row, devices, key rows, audit; a unique violation (same id or (kpe, seq), device exists) throws StaleStoreError and imports nothing. */
  importShipment(s: ShipmentImport): Promise<void>;

  // --- ingest
  /** Replay rows of the given keys (missing: { last: 0, frame: null }), same order. */
  replayStates(keys: ReplayKey[]): Promise<ReplayState[]>;
  /**
   * One transaction: link max-advances, then per frame (in order) its conditional advance and, if it
   * won, its writes (savepoint per frame: a constraint violation costs that frame only). Results per frame.
   * Stale conditional writes of a frame (updateCommand, key) throw StaleStoreError for the whole batch.
   */
  commitIngest(c: IngestCommit): Promise<IngestFrameResult[]>;
  /** Whether an event (meter, code, t, detail) is stored (the meter re-reports events under new counters). */
  eventStored(meter: Bytes, code: number, t: number, detail: string | null): Promise<boolean>;
  /** A generic unit (enqueue, cancel, key-update phases, downlink state): all writes or none. */
  commit(writes: StoreWrite[]): Promise<WriteResult[]>;

  // --- sending counters
  /**
   * Reserves n counter values of a key: lo = max(stored lim, 1), hi = min(lo + n, limitMax); stored
   * lim := hi, atomically (UPDATE … SET lim = … RETURNING / INSERT when absent). No other caller, node,
   * restart or SIGKILL ever gets a value of [lo, hi) again; lim never goes down.
   */
  reserveSendRange(key: SendKey, n: number, limitMax: number): Promise<SendRange>;
  /** The stored limit (0: never used); for tests and diagnostics. */
  sendLimit(key: SendKey): Promise<number>;

  // --- commands
  command(id: number): Promise<CommandRow | undefined>;
  /** Newest open (queued/sent) key_update command of a meter, or undefined. */
  openKeyUpdateCommand(meter: Bytes): Promise<CommandRow | undefined>;
  /** Id of the newest key_update command of a meter (any state), or undefined. */
  lastKeyUpdateCommandId(meter: Bytes): Promise<number | undefined>;
  /** created_ms of the newest acknowledged key_update of a meter, or null. */
  lastCompletedKeyUpdateMs(meter: Bytes): Promise<number | null>;
  /**
   * Claims the due open commands of the meters behind a concentrator, oldest first, at most max:
   * state 'queued', or 'sent' with next_try_ms <= nowMs, or expires_ms <= nowMs; not claimed by
   * another node with claim_until > nowMs. Sets claimed_by = node, claim_until = nowMs + leaseMs
   * (PostgreSQL: FOR UPDATE SKIP LOCKED). A claim ends with an updateCommand or at claim_until.
   */
  claimCommands(concentrator: Bytes, nowMs: number, max: number, leaseMs: number): Promise<CommandRow[]>;
  /** Newest first. */
  listCommands(f: CommandFilter): Promise<CommandRow[]>;

  // --- firmware images
  firmwareImage(sha256: Bytes): Promise<{ version: number; data: Bytes } | undefined>;
  /** INSERT … ON CONFLICT DO NOTHING, + audit. */
  addFirmwareImage(sha256: Bytes, version: number, data: Bytes, addedMs: number, audit: AuditAppend[]): Promise<void>;
  firmwareImages(): Promise<{ sha256: Bytes; version: number; size: number; addedMs: number }[]>;

  // --- audit
  /** Appends entries alone (refusals outside any other unit). Returns the last seq. */
  appendAudit(entries: AuditAppend[]): Promise<number>;
  auditHead(): Promise<AuditHead>;
  /** Entries seq >= fromSeq, ascending, at most limit (with prev and mac, for the verifier). */
  auditRows(fromSeq: number, limit: number): Promise<AuditRow[]>;
  /** The entry of one seq, or undefined. */
  auditEntry(seq: number): Promise<AuditRow | undefined>;

  // --- users and credentials (users.ts)
  userRole(name: string): Promise<string | undefined>;
  /** Upsert of the role (created_ms kept for an existing user), + audit. */
  setUser(name: string, role: Role, createdMs: number, audit: AuditAppend[]): Promise<void>;
  listUsers(nowMs: number): Promise<UserRow[]>;
  passwordHash(name: string): Promise<string | undefined>;
  /** Upsert of the hash, deletes the name's login failures, + audit. */
  setPassword(name: string, hash: string, updatedMs: number, audit: AuditAppend[]): Promise<void>;
  insertToken(t: TokenRow, audit: AuditAppend[]): Promise<void>;
  token(id: string): Promise<TokenRow | undefined>;
  /** Tokens other than sessions, oldest first, optionally of one user. */
  tokens(user?: string): Promise<TokenRow[]>;
  /**
   * Sets revoked_ms where not yet revoked (one token by id, only if of `kind` when given; or every
   * token of a user); returns how many. audit(count) is called inside the transaction and its
   * entries appended there (the count is known only then).
   */
  revokeTokens(
    what: { tokenId: string; kind?: TokenKind } | { user: string },
    nowMs: number,
    audit: (count: number) => AuditAppend[],
  ): Promise<number>;
  touchToken(id: string, nowMs: number): Promise<void>;
  loginFailure(name: string): Promise<LoginFailure | undefined>;
  /** Upsert of the failure row, + audit. */
  recordLoginFailure(name: string, f: LoginFailure, audit: AuditAppend[]): Promise<void>;
  /** Deletes the failure row, + audit. */
  clearLoginFailures(name: string, audit: AuditAppend[]): Promise<void>;

  // --- operator queries (queries.ts; read only)
  readingsRecent(meter: Bytes, fromSeq: number, limit: number): Promise<LoadProfilePoint[]>;
  loadProfile(meter: Bytes, r: TimeRange): Promise<LoadProfilePoint[]>;
  /** (seq, meter) > (after, afterMeter) order. */
  loadProfileAll(r: TimeRange & { afterMeter: Bytes }): Promise<(LoadProfilePoint & { meter: Bytes })[]>;
  registerReads(meter: Bytes, r: TimeRange): Promise<RegisterRead[]>;
  meterEvents(meter: Bytes | undefined, limit: number): Promise<MeterEvent[]>;
  /** Audit rows of security kinds (security.%, meter.security_event, auth.%, policy.denied), seq < before, newest first. */
  securityEvents(subject: string | undefined, before: number, limit: number): Promise<SecurityEventRow[]>;
  /** Count of stored readings per meter. */
  readingCounts(): Promise<{ meter: Bytes; n: number }[]>;
  /** Per concentrator: meters behind it, newest received_ms of a reading relayed by it. */
  concentratorHealth(): Promise<{ id: Bytes; meters: number; lastSeenMs: number | null }[]>;
  /** Count of security.% audit rows per subject. */
  refusalCounts(): Promise<{ subject: string; n: number }[]>;
  meterLastSeen(): Promise<{ meter: Bytes; lastMs: number }[]>;
  /** Total rows of a table, for tests and benchmarks ('readings', 'audit', 'events', …). */
  count(table: string): Promise<number>;

  // --- campaigns (campaigns.ts)
  /** Inserts the campaign; audit(id) is called inside the transaction and its entries appended there. Returns id. */
  insertCampaign(kind: string, actor: string, params: string, createdMs: number, audit: (id: number) => AuditAppend[]): Promise<number>;
  addCampaignCommand(campaignId: number, meterHex: string, commandId: number | null, skipped: string | null): Promise<void>;
  /** Newest first, with the states of their commands counted (skipped: no command). */
  listCampaigns(limit: number): Promise<CampaignRow[]>;

  // --- serve lease (lease.ts): one `hes serve` per node name
  /** Takes the node's lease unless held by a live holder (alive(row) decides for a fresh lease); returns the row that blocks, or null when taken. */
  acquireLease(l: LeaseRow, expiryMs: number, alive: (r: LeaseRow) => boolean): Promise<LeaseRow | null>;
  renewLease(node: string, holder: string, nowMs: number): Promise<boolean>;
  releaseLease(node: string, holder: string): Promise<void>;
}
