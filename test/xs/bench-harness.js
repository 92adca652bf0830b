// Engine-neutral operations for scripts/bench-firmware.ts, run on XS (run-xs.mjs), Node
// (run-node.mjs) and Espruino (ESPRUINO_BIN; code loaded from Storage). Espruino subset, XS
// environment (print only). Kept small: on a 2,630-variable Espruino pool every function here
// costs variables next to the meter's.
// The bench runs each operation k and k + n times in fresh processes and divides the difference of
// the engine's deterministic count by n (callgrind instructions on Espruino, computrons on XS):
//   VaktBench.cryptoSetup(useNative)  a crypto context, a READING key slot, a 64-byte body (needs VaktCore)
//   VaktBench.sealN(n)                sealFrame of the 64-byte reading, n times
//   VaktBench.aesN(n)                 one AES block through the context's provider, n times
//   VaktBench.rawAesN(n)              one block of Espruino's require("crypto").AES itself, n times
//   VaktBench.meterStart(scn)         starts the meter bundle (VaktMeter) on an in-engine board and
//                                     feeds it one authentic downlink command (accepted)
//   VaktBench.pushN(n)                n intervals closed, one reading pushed per interval
//   VaktBench.replayN(n)              the accepted downlink fed again n times (refused as a replay)
(function () {
  function fromHex(s) {
    var b = new Uint8Array(s.length / 2);
    for (var i = 0; i < b.length; i++) b[i] = parseInt(s.substr(2 * i, 2), 16);
    return b;
  }
  function nativeAes() {
    var c;
    try {
      c = require('crypto');
    } catch (e) {
      return undefined;
    }
    return c && c.AES ? globalThis.VaktEspruino.createEspruinoAes(c) : undefined;
  }
  var espruino = typeof E !== 'undefined' && typeof require === 'function';

  // The counted crypto operations' state (cryptoSetup).
  var K = {};
  function cryptoSetup(useNative) {
    var C = globalThis.VaktCore;
    var aes = useNative ? nativeAes() : undefined;
    if (useNative && !aes) throw new Error('no native AES on this engine');
    K.ctx = C.createCryptoCtx(aes);
    var peer = new Uint8Array(8);
    peer[7] = 1;
    K.key = new Uint8Array(16);
    for (var k = 0; k < 16; k++) K.key[k] = k;
    K.slot = C.createKeySlot(C.E2E_VERSION, C.OP_READING, C.DIR_UP, 0, new Uint8Array(8), peer);
    C.setSlotKey(K.slot, K.key, 0);
    K.slot.ctr = C.createSendCounter(0, 1000000000, function () {
      return true;
    });
    K.body = new Uint8Array(64);
    K.out = new Uint8Array(128);
    K.rk = new Uint32Array(44);
    C.expandKey(K.key, 0, K.rk);
    K.blk = new Uint8Array(16);
  }
  function sealN(n) {
    var C = globalThis.VaktCore;
    for (var i = 0; i < n; i++) if (C.sealFrame(K.ctx, K.slot, C.OP_READING, K.body, 0, 64, K.out, 0) < 0) throw new Error('seal failed');
  }
  // Through the provider's public method, as a caller outside the core uses it.
  function aesN(n) {
    var bc = K.ctx.bc;
    for (var i = 0; i < n; i++) bc.encryptBlock(K.rk, K.blk, 0, K.blk, 0);
  }
  function rawAesN(n) {
    var aes = require('crypto').AES;
    var o = { mode: 'ECB' };
    for (var i = 0; i < n; i++) aes.encrypt(K.blk, K.key, o);
  }

  var M = { app: null, t: 0, cmd: null, up: 0, interval: 0 };

  // Records in RAM (XS, Node): a board keeps them in flash, see meterStart.
  function ramStorage() {
    var recs = {};
    return {
      read: function (n) {
        var v = recs['r_' + n];
        if (v === undefined) return undefined;
        var c = new Uint8Array(v.length);
        c.set(v);
        return c;
      },
      write: function (n, d) {
        var c = new Uint8Array(d.length);
        c.set(d);
        recs['r_' + n] = c;
      },
      erase: function (n) {
        delete recs['r_' + n];
      },
    };
  }

  // scn: { prov: hex, t0, cmd: hex (serial bytes of one authentic downlink command), interval, nativeAes }
  function meterStart(scn) {
    var storage;
    if (espruino) {
      // The real Espruino adapter's storage on require("Storage"), as on a board: records live in
      // flash. The code itself runs from Storage (the .js files), so only Vakt's records are cleared.
      var S = require('Storage');
      var names = S.list();
      for (var k = 0; k < names.length; k++) if (!/\.js$/.test(names[k])) S.erase(names[k]);
      S.write('prov', fromHex(scn.prov));
      storage = globalThis.VaktEspruino.createEspruinoBoard(
        { name: 'linux', engine: 'espruino' },
        {
          Storage: S,
          serial: [],
          print: print,
        },
      ).storage;
    } else {
      storage = ramStorage();
      storage.write('prov', fromHex(scn.prov));
    }
    M.t = scn.t0;
    M.cmd = fromHex(scn.cmd);
    M.interval = scn.interval;
    var board = {
      profile: { name: 'bench', engine: espruino ? 'espruino' : 'xs' },
      // Counts frames: the meter may write one frame in several pieces, each frame ends with one 0x00.
      serial: [
        {
          write: function (d) {
            for (var j = 0; j < d.length; j++) if (d[j] === 0) M.up++;
          },
          onData: function () {},
        },
      ],
      storage: storage,
      clock: {
        now: function () {
          return M.t;
        },
        set: function (t) {
          M.t = t;
        },
        every: function () {
          return 0;
        },
      },
      pins: { relay: function () {}, onPulse: function () {}, onTamper: function () {} },
      log: function () {},
    };
    // Puck.js-like boards hand the core the interpreter's native AES (require("crypto").AES ECB).
    if (scn.nativeAes) board.aes = nativeAes();
    M.app = globalThis.VaktMeter.startMeter(board, { attach: false });
    M.app.onSerial(M.cmd); // accepted once; every later feed is a replay
  }

  function pushN(n) {
    var app = M.app;
    var before = M.up;
    for (var i = 0; i < n; i++) {
      M.t += M.interval;
      app.onPulse(1);
      app.tick(M.t);
    }
    // The first intervals after start may send more (events queued at boot); never fewer.
    if (M.up - before < n) throw new Error('push: ' + (M.up - before) + ' frames sent for ' + n + ' intervals');
  }
  function replayN(n) {
    var app = M.app;
    var before = app.stats.replay;
    for (var i = 0; i < n; i++) app.onSerial(M.cmd);
    if (app.stats.replay - before !== n) throw new Error('replay: ' + (app.stats.replay - before) + ' refused of ' + n);
  }

  globalThis.VaktBench = {
    cryptoSetup: cryptoSetup,
    sealN: sealN,
    aesN: aesN,
    rawAesN: rawAesN,
    meterStart: meterStart,
    pushN: pushN,
    replayN: replayN,
  };
})();
