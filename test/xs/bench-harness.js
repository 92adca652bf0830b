// Engine-neutral benchmark bodies for scripts/bench-firmware.ts, run on Node (run-node.mjs), XS
// (run-xs.mjs) and Espruino (ESPRUINO_BIN). Espruino subset; XS environment (print only).
//   VaktBench.seal(n, useNative)   seals n 64-byte READING bodies with the core bundle (VaktCore)
//   VaktBench.meterStart(scn)      starts the meter bundle (VaktMeter) on an in-engine board
//   VaktBench.meterRun(frames)     drives it: each step closes an interval (one sealed reading up)
//                                  and feeds one downlink frame (a replay, refused after its MIC check)
// Results are printed as `@@bench {json}` lines.
(function () {
  function nowMs() {
    if (typeof performance !== 'undefined' && performance.now) return performance.now();
    if (typeof getTime === 'function') return getTime() * 1000;
    return Date.now();
  }
  function memUsage() {
    if (typeof process !== 'undefined' && process.memory) return process.memory().usage;
    return -1;
  }
  // Variables held by the records the harness keeps in RAM in place of flash (Espruino only; -1 elsewhere).
  function recordVars() {
    if (typeof E !== 'undefined' && E.getSizeOf && M.recs) return E.getSizeOf(M.recs);
    return -1;
  }
  function fromHex(s) {
    var b = new Uint8Array(s.length / 2);
    for (var i = 0; i < b.length; i++) b[i] = parseInt(s.substr(2 * i, 2), 16);
    return b;
  }
  function nativeAes() {
    if (typeof require !== 'function' || !globalThis.VaktEspruino) return undefined;
    var c;
    try { c = require('crypto'); } catch (e) { return undefined; }
    if (!c || !c.AES) return undefined;
    return globalThis.VaktEspruino.createEspruinoAes(c);
  }

  function seal(n, useNative) {
    var C = globalThis.VaktCore;
    var aes = useNative ? nativeAes() : undefined;
    if (useNative && !aes) { print('@@bench ' + JSON.stringify({ what: 'seal', native: true, skipped: 'no native AES' })); return; }
    var ctx = C.createCryptoCtx(aes);
    var id = new Uint8Array(8);
    var peer = new Uint8Array(8);
    peer[7] = 1;
    var key = new Uint8Array(16);
    for (var k = 0; k < 16; k++) key[k] = k;
    var slot = C.createKeySlot(C.E2E_VERSION, C.OP_READING, C.DIR_UP, 0, id, peer);
    C.setSlotKey(slot, key, 0);
    slot.ctr = C.createSendCounter(0, 1000000, function () { return true; });
    var body = new Uint8Array(64);
    var out = new Uint8Array(256);
    // Warm-up (a quarter of the run) so JIT engines (Node) are measured at their steady speed.
    var r = 0;
    for (var w = 0; w < Math.max(1, n >> 2); w++) {
      r = C.sealFrame(ctx, slot, C.OP_READING, body, 0, 64, out, 0);
      if (r < 0) throw new Error('seal failed ' + r);
    }
    var t0 = nowMs();
    for (var i = 0; i < n; i++) {
      r = C.sealFrame(ctx, slot, C.OP_READING, body, 0, 64, out, 0);
      if (r < 0) throw new Error('seal failed ' + r);
    }
    var ms = nowMs() - t0;
    print('@@bench ' + JSON.stringify({ what: 'seal', native: !!aes, n: n, frameLen: r, ms: ms, msPerFrame: ms / n }));
  }

  var M = { app: null, t: 0, cmd: null, up: 0, down: 0, mem: [], recs: null };

  function makeStorage(recs) {
    return {
      read: function (n) { var v = recs['r_' + n]; if (v === undefined) return undefined; var c = new Uint8Array(v.length); c.set(v); return c; },
      write: function (n, d) { var c = new Uint8Array(d.length); c.set(d); recs['r_' + n] = c; },
      erase: function (n) { delete recs['r_' + n]; }
    };
  }

  // scn: { prov: hex, t0, cmd: hex (serial bytes of one authentic downlink command), interval, espruinoStorage }
  function meterStart(scn) {
    var recs = {};
    M.recs = recs;
    var storage;
    if (scn.espruinoStorage && typeof require === 'function' && globalThis.VaktEspruino) {
      // The real Espruino adapter's storage on require("Storage"), as on a board: records live in flash, not RAM.
      // The code itself may be running from Storage (flash), so only Vakt's records are cleared.
      var S = require('Storage');
      var names = S.list();
      for (var k = 0; k < names.length; k++) if (!/\.js$/.test(names[k])) S.erase(names[k]);
      S.write('prov', fromHex(scn.prov));
      storage = globalThis.VaktEspruino.createEspruinoBoard({ name: 'linux', engine: 'espruino', serial: [], pins: {} }, {
        Storage: S, serial: [], getTime: getTime, setTime: setTime, setInterval: setInterval,
        digitalWrite: function () {}, setWatch: function () {}, pin: function (p) { return p; },
        toUint8Array: E.toUint8Array, print: print
      }).storage;
    } else {
      storage = makeStorage(recs);
      recs['r_prov'] = fromHex(scn.prov);
    }
    M.t = scn.t0;
    M.cmd = fromHex(scn.cmd);
    var board = {
      profile: { name: 'bench', engine: 'xs' },
      // Counts frames: the meter may write one frame in several pieces, each frame ends with one 0x00.
      serial: [{ write: function (d) { for (var j = 0; j < d.length; j++) if (d[j] === 0) M.up++; }, onData: function () {} }],
      storage: storage,
      clock: { now: function () { return M.t; }, set: function (t) { M.t = t; }, every: function () { return 0; } },
      pins: { relay: function () {}, onPulse: function () {}, onTamper: function () {} },
      log: function () {}
    };
    // Puck.js-like boards hand the core the interpreter's native AES (require("crypto").AES ECB).
    if (scn.nativeAes) board.aes = nativeAes();
    M.interval = scn.interval;
    M.app = globalThis.VaktMeter.startMeter(board, { attach: false });
    M.app.onSerial(M.cmd); // accepted once; every later feed is a replay
    M.down++;
  }

  function meterRun(frames, sampleEvery) {
    var app = M.app;
    var t0 = nowMs();
    var target = M.up + M.down + frames;
    var startUp = M.up;
    var samples = [];
    var recSamples = [];
    var i = 0;
    while (M.up + M.down < target) {
      M.t += M.interval;
      app.onPulse(1);
      app.tick(M.t);
      app.onSerial(M.cmd);
      M.down++;
      i++;
      if (sampleEvery > 0 && i % sampleEvery === 0) { samples.push(memUsage()); recSamples.push(recordVars()); }
    }
    var ms = nowMs() - t0;
    // Collect garbage so the engine's meter after this step counts live objects only.
    if (typeof gc === 'function') gc();
    print('@@bench ' + JSON.stringify({ what: 'meter', frames: frames, steps: i, up: M.up - startUp, ms: ms,
      msPerStep: ms / i, mem: memUsage(), recs: recordVars(), samples: samples, recSamples: recSamples, stats: { replay: app.stats.replay, badTag: app.stats.badTag, sendErrors: app.stats.sendErrors } }));
  }

  function mark(at) {
    print('@@bench ' + JSON.stringify({ what: 'mark', at: at, usage: memUsage() }));
  }

  globalThis.VaktBench = { seal: seal, meterStart: meterStart, meterRun: meterRun, memUsage: memUsage, mark: mark };
})();
