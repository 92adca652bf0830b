// Engine-neutral harness for the concentrator bundle (dist/firmware/concentrator.js), same rules as
// meter-harness.js. serial[0] is the HES link, serial[1] one meter radio line.
// VaktConcHarness.run({ prov, t0, steps: [{do:'hes',hex} | {do:'meter',hex} | {do:'tick',t}] }) prints
// `@@step {"i":..,"hes":[hex written toward the HES],"meter":[hex written toward meters],"stats":{..}}`.
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
  function run(scn) {
    var recs = {};
    var out = { hes: [], meter: [] };
    // A frame may be written in several pieces: each line is cut into frames at its 0x00 delimiters.
    var line = { hes: '', meter: '' };
    function cut(d, which) {
      for (var j = 0; j < d.length; j++) {
        line[which] += toHex(d.subarray(j, j + 1));
        if (d[j] === 0) {
          out[which].push(line[which]);
          line[which] = '';
        }
      }
    }
    var now = scn.t0;
    recs['r_prov'] = fromHex(scn.prov);
    var board = {
      profile: { name: 'harness', engine: 'xs' },
      serial: [
        {
          write: function (d) {
            cut(d, 'hes');
          },
          onData: function () {},
        },
        {
          write: function (d) {
            cut(d, 'meter');
          },
          onData: function () {},
        },
      ],
      storage: {
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
      },
      clock: {
        now: function () {
          return now;
        },
        set: function (t) {
          now = t;
        },
        every: function () {
          return 0;
        },
      },
      pins: { relay: function () {}, onPulse: function () {}, onTamper: function () {} },
      log: function (m) {
        print('@@log ' + m);
      },
    };
    var app = globalThis.VaktConcentrator.startConcentrator(board, { attach: false });
    for (var i = 0; i < scn.steps.length; i++) {
      var st = scn.steps[i];
      out.hes = [];
      out.meter = [];
      if (st['do'] === 'hes') app.onHes(fromHex(st.hex));
      else if (st['do'] === 'meter') app.onMeterLine(1, fromHex(st.hex));
      else if (st['do'] === 'tick') {
        now = st.t;
        app.tick(st.t);
      } else throw new Error('harness: unknown step ' + st['do']);
      var s = app.stats;
      var stats = {};
      for (var k in s) if (typeof s[k] === 'number') stats[k] = s[k];
      print('@@step ' + JSON.stringify({ i: i, hes: out.hes, meter: out.meter, stats: stats }));
    }
  }
  globalThis.VaktConcHarness = { run: run };
})();
