// Drives the firmware E32 driver piece (dist/firmware/espruino-modem-e32.js) on a real engine with
// fakes written in the Espruino subset: a timer queue, an E32 answering C2 / C1 C1 C1, AUX high.
// Prints STATE, WRITES (packet lengths to the UART), GOT (frame lengths to the firmware), STATS.
var T = [],
  now = 0;
function after(ms, cb) {
  var h = { at: now + ms, cb: cb };
  T.push(h);
  return h;
}
function cancel(h) {
  var i = T.indexOf(h);
  if (i >= 0) T.splice(i, 1);
}
function run(ms) {
  var end = now + ms;
  for (;;) {
    var b = -1;
    for (var i = 0; i < T.length; i++) if (T[i].at <= end && (b < 0 || T[i].at < T[b].at)) b = i;
    if (b < 0) break;
    var h = T.splice(b, 1)[0];
    now = h.at;
    h.cb();
  }
  now = end;
}
var pins = { m0: 0, m1: 0, aux: 1 },
  params = [0, 0, 0x1a, 0x17, 0x44],
  dataCb = null,
  writes = [],
  cmd = [];
var uart = {
  setup: function () {},
  on: function (e, cb) {
    dataCb = cb;
  },
  write: function (d) {
    if (pins.m0 && pins.m1) {
      for (var i = 0; i < d.length; i++) cmd.push(d[i]);
      if (cmd.length >= 3 && cmd[0] === 0xc1 && cmd[1] === 0xc1 && cmd[2] === 0xc1) {
        cmd = [];
        after(10, function () {
          dataCb(new Uint8Array([0xc0].concat(params)));
        });
      } else if (cmd.length >= 6 && cmd[0] === 0xc2) {
        params = cmd.slice(1, 6);
        cmd = [];
        after(10, function () {
          dataCb(new Uint8Array([0xc0].concat(params)));
        });
      }
    } else writes.push(d.length);
  },
};
var io = {
  pin: function (n) {
    return n;
  },
  digitalWrite: function (p, v) {
    pins[p] = v;
  },
  digitalRead: function (p) {
    return pins[p];
  },
  setTimeout: function (cb, ms) {
    return after(ms, cb);
  },
  clearTimeout: cancel,
  getTime: function () {
    return now / 1000;
  },
  toUint8Array: function (d) {
    return d;
  },
  print: function (m) {
    print('PRINT ' + m);
  },
};
var drv = globalThis.VaktModem.createE32Serial(
  uart,
  { kind: 'e32', band: 'eu868-g', pins: { m0: 'm0', m1: 'm1', aux: 'aux' }, config: { channel: 6, airRate: 2400, powerDbm: 14 } },
  io,
  'Serial1',
);
var got = [];
drv.on('data', function (d) {
  got.push(d.length);
});
drv.setup(9600, {});
run(3000);
print('STATE ' + drv.state() + ' PARAMS ' + params.join(','));
// a 300-byte v2 hop unit as a COBS frame: bytes 1..255 never zero, so COBS = [0xff, 254 bytes, ...]
var u = new Uint8Array(300);
u[0] = 0x41;
u[1] = 0;
u[2] = 5;
for (var i = 3; i < 300; i++) u[i] = (i % 250) + 1;
// hand-made COBS
var out = [],
  code = 1,
  ci = 0;
out.push(0);
for (var k = 0; k < u.length; k++) {
  if (u[k] === 0) {
    out[ci] = code;
    ci = out.length;
    out.push(0);
    code = 1;
  } else {
    out.push(u[k]);
    code++;
    if (code === 0xff) {
      out[ci] = code;
      ci = out.length;
      out.push(0);
      code = 1;
    }
  }
}
out[ci] = code;
out.push(0);
drv.write(new Uint8Array(out));
run(60000);
print('WRITES ' + writes.join(','));
dataCb(new Uint8Array([0x51, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
run(100);
print('GOT ' + got.join(',') + ' STATS ' + JSON.stringify(drv.stats));
if (typeof process !== 'undefined' && process.memory) print('MEM ' + process.memory().usage);
