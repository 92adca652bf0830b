// Engine-neutral harness that drives the meter bundle (dist/firmware/meter.js) synchronously on any
// engine: Node (run-node.mjs), Moddable XS (run-xs.mjs) and, when ESPRUINO_BIN is set, the Espruino
// interpreter. Written to the Espruino subset (no destructuring, spread, default parameters, Map,
// hoisting) and to XS's environment (print only: no console, no timers).
//
// It defines globalThis.VaktHarness.run(scenario): builds an in-memory Board (storage that survives
// a simulated reboot, a serial port that records what the meter transmits (one hex string per frame), a settable clock), starts
// the meter from the bundle's globalThis.VaktMeter.startMeter, plays the scenario's steps and prints
// one line per step: `@@step {"i":..,"out":[hex frames written],"relay":..,"stats":{..}}`.
(function () {
  var HEX = '0123456789abcdef';
  function fromHex(s) {
    var b = new Uint8Array(s.length / 2);
    for (var i = 0; i < b.length; i++) b[i] = parseInt(s.substr(2 * i, 2), 16);
    return b;
  }
  function copy(b) {
    var c = new Uint8Array(b.length);
    c.set(b);
    return c;
  }
  // Record names are prefixed so no name can collide with an Object.prototype property.
  function makeStorage(recs) {
    return {
      read: function (n) {
        var v = recs['r_' + n];
        return v === undefined ? undefined : copy(v);
      },
      write: function (n, d) {
        recs['r_' + n] = copy(d);
      },
      erase: function (n) {
        delete recs['r_' + n];
      },
    };
  }
  // On Espruino with the board adapter loaded (VaktEspruino): the adapter's record store on
  // require("Storage"), as on a board, so records cost flash, not variables (see run()).
  var flash = null;
  function makeBoard(recs, state) {
    return {
      profile: { name: 'harness', engine: state.engine },
      serial: [
        {
          // The meter may write one frame in several pieces: cut the line at each 0x00 delimiter.
          write: function (d) {
            for (var i = 0; i < d.length; i++) {
              state.line += HEX.charAt(d[i] >> 4) + HEX.charAt(d[i] & 15);
              if (d[i] === 0) {
                state.out.push(state.line);
                state.line = '';
              }
            }
          },
          onData: function () {},
        },
      ],
      storage: flash || makeStorage(recs),
      clock: {
        now: function () {
          return state.now;
        },
        set: function (t) {
          state.now = t;
        },
        every: function () {
          return 0;
        },
      },
      pins: {
        relay: function (closed) {
          state.relayPin = closed;
        },
        onPulse: function () {},
        onTamper: function () {},
      },
      log: function (m) {
        print('@@log ' + m);
      },
    };
  }
  function statsOf(app) {
    var s = app.stats;
    return {
      framesIn: s.framesIn,
      notForMe: s.notForMe,
      linkErrors: s.linkErrors,
      badTag: s.badTag,
      replay: s.replay,
      policy: s.policy,
      commands: s.commands,
      sendErrors: s.sendErrors,
      eventsSent: s.eventsSent,
    };
  }
  // Espruino's native require("crypto").AES for the meter (begin with nativeAes), as on a Puck.js.
  var nativeAes;
  function start(recs, state, opts) {
    var board = makeBoard(recs, state);
    if (nativeAes) board.aes = nativeAes;
    return globalThis.VaktMeter.startMeter(board, opts);
  }

  // The running scenario (begin / step): one meter at a time.
  var R = { recs: null, state: null, opts: null, app: null, i: 0 };

  /**
   * Starts the meter of scenario scn ({ prov: hex, t0, engine?, nativeAes? }) and prints step -1.
   * nativeAes: on Espruino with the adapter loaded, the meter uses require("crypto").AES.
   */
  function begin(scn) {
    var recs = {};
    flash = null;
    if (typeof E !== 'undefined' && typeof require === 'function' && globalThis.VaktEspruino) {
      // Code runs from Storage (the .js files): only records are cleared; prov is the factory copy.
      var S = require('Storage');
      var names = S.list();
      for (var k = 0; k < names.length; k++) if (!/\.js$/.test(names[k])) S.erase(names[k]);
      names = null; // the list of stored pieces costs a Puck.js-sized pool ~3 variables per name
      S.write('prov', fromHex(scn.prov));
      flash = globalThis.VaktEspruino.createEspruinoBoard(
        { name: 'harness', engine: 'espruino' },
        { Storage: S, serial: [], print: print },
      ).storage;
      nativeAes = scn.nativeAes ? globalThis.VaktEspruino.createEspruinoAes(require('crypto')) : undefined;
    } else recs['r_prov'] = fromHex(scn.prov);
    R.recs = recs;
    R.state = { now: scn.t0, out: [], line: '', relayPin: undefined, engine: scn.engine || 'xs' };
    scn = null; // (with its provisioning image in hex) not held while the meter starts
    R.opts = { attach: false };
    R.i = 0;
    R.app = null;
    R.app = start(recs, R.state, R.opts);
    print('@@step ' + JSON.stringify({ i: -1, out: R.state.out, relay: R.app.relayClosed(), stats: statsOf(R.app) }));
    return R.app;
  }

  /** Plays one step ({ do: 'tick', t } | { do: 'rx', hex } | { do: 'pulse', n } | { do: 'reboot' }) and prints it. */
  function step(st) {
    var state = R.state;
    state.out = [];
    if (st['do'] === 'tick') {
      state.now = st.t;
      R.app.tick(st.t);
    } else if (st['do'] === 'rx') R.app.onSerial(fromHex(st.hex));
    else if (st['do'] === 'pulse') R.app.onPulse(st.n);
    else if (st['do'] === 'reboot') {
      // A reboot loses RAM: the old instance is dropped before the new one starts (both at once
      // would not fit a Puck.js-sized Espruino pool).
      R.app = null;
      R.app = start(R.recs, state, R.opts);
    } else throw new Error('harness: unknown step ' + st['do']);
    print(
      '@@step ' + JSON.stringify({ i: R.i++, out: state.out, relay: R.app.relayClosed(), relayPin: state.relayPin, stats: statsOf(R.app) }),
    );
  }

  /** scenario: begin(scn), then every step of scn.steps (see harnessPieces in engine-run.ts to stream them instead). */
  function run(scn) {
    begin(scn);
    for (var i = 0; i < scn.steps.length; i++) step(scn.steps[i]);
    return R.app;
  }

  // Only what the tests call: on a Puck.js-sized Espruino pool every exported name costs variables.
  globalThis.VaktHarness = { run: run, begin: begin, step: step };
})();
