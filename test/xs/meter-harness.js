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
  function toHex(b) {
    var s = '';
    for (var i = 0; i < b.length; i++) s += HEX.charAt(b[i] >> 4) + HEX.charAt(b[i] & 15);
    return s;
  }
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
      read: function (n) { var v = recs['r_' + n]; return v === undefined ? undefined : copy(v); },
      write: function (n, d) { recs['r_' + n] = copy(d); },
      erase: function (n) { delete recs['r_' + n]; }
    };
  }
  function makeBoard(recs, state) {
    return {
      profile: { name: 'harness', engine: state.engine },
      serial: [{
        // The meter may write one frame in several pieces: cut the line at each 0x00 delimiter.
        write: function (d) {
          for (var i = 0; i < d.length; i++) {
            state.line += HEX.charAt(d[i] >> 4) + HEX.charAt(d[i] & 15);
            if (d[i] === 0) { state.out.push(state.line); state.line = ''; }
          }
        },
        onData: function () {}
      }],
      storage: makeStorage(recs),
      clock: {
        now: function () { return state.now; },
        set: function (t) { state.now = t; },
        every: function () { return 0; }
      },
      pins: {
        relay: function (closed) { state.relayPin = closed; },
        onPulse: function () {},
        onTamper: function () {}
      },
      log: function (m) { print('@@log ' + m); }
    };
  }
  function statsOf(app) {
    var s = app.stats;
    return { framesIn: s.framesIn, notForMe: s.notForMe, linkErrors: s.linkErrors, badTag: s.badTag, replay: s.replay,
      policy: s.policy, commands: s.commands, sendErrors: s.sendErrors, eventsSent: s.eventsSent };
  }
  function start(recs, state, opts) {
    return globalThis.VaktMeter.startMeter(makeBoard(recs, state), opts);
  }

  /** scenario: { prov: hex, t0, engine?, options?, steps: [{ do: 'tick', t } | { do: 'rx', hex } | { do: 'pulse', n } | { do: 'reboot' }] } */
  function run(scn) {
    var recs = {};
    var state = { now: scn.t0, out: [], line: '', relayPin: undefined, engine: scn.engine || 'xs' };
    recs['r_prov'] = fromHex(scn.prov);
    var opts = { attach: false };
    var app = start(recs, state, opts);
    print('@@step ' + JSON.stringify({ i: -1, out: state.out, relay: app.relayClosed(), stats: statsOf(app) }));
    for (var i = 0; i < scn.steps.length; i++) {
      var st = scn.steps[i];
      state.out = [];
      if (st['do'] === 'tick') { state.now = st.t; app.tick(st.t); }
      else if (st['do'] === 'rx') app.onSerial(fromHex(st.hex));
      else if (st['do'] === 'pulse') app.onPulse(st.n);
      else if (st['do'] === 'reboot') app = start(recs, state, opts);
      else throw new Error('harness: unknown step ' + st['do']);
      print('@@step ' + JSON.stringify({ i: i, out: state.out, relay: app.relayClosed(), relayPin: state.relayPin, stats: statsOf(app) }));
    }
    return app;
  }

  globalThis.VaktHarness = { run: run, toHex: toHex, fromHex: fromHex, makeBoard: makeBoard, start: start };
})();
