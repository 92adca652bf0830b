// The constant-inlining pass of build:firmware: turns a minified IIFE bundle's top-level numeric
// `var`s into literals only when that cannot change behaviour, and the result computes the same.
import { describe, it, expect } from 'vitest';
import vm from 'node:vm';
import { inlineTopLevelConstants } from '../../scripts/inline-consts.ts';

const run = (code: string): unknown => {
  const ctx: Record<string, unknown> = {};
  ctx.globalThis = ctx;
  vm.runInNewContext(code, ctx);
  return (ctx.out as () => unknown)();
};

describe('inlineTopLevelConstants', () => {
  it('inlines reads, keeps behaviour, drops the declarations', () => {
    const src =
      '(()=>{var a=16,b=-3,c=new Uint8Array(a),d=1e3;function f(x){return x*a+b}globalThis.out=()=>[f(2),c.length,d.toFixed(0),{a},-b,a.toString(16),typeof a];})();';
    const r = inlineTopLevelConstants(src);
    expect(r.names.sort()).toEqual(['a', 'b', 'd']);
    expect(r.code).not.toMatch(/var a=|,a=|b=-3|d=1e3/);
    expect(r.code).toContain('var c=new Uint8Array(16);');
    expect(JSON.stringify(run(r.code))).toBe(JSON.stringify(run(src)));
  });

  it('leaves variables that are written, shadowed or not plain numbers', () => {
    const src = '(()=>{var a=1,b=2,c=3,d="s",e=4;function g(b){return b+1}for(e in{x:1});a++;c=5;globalThis.out=()=>[a,b,g(b),c,d,e];})();';
    const r = inlineTopLevelConstants(src);
    expect(r.names).toEqual([]);
    expect(r.code).toBe(src);
  });

  it('folds constant expressions of literals and inlined constants, and inlines them', () => {
    // The shapes esbuild leaves of `const X = 2 * BLOCK + 3` (firmware/src/meter/keystore.ts has such).
    const src =
      '(()=>{var a=2*20,b=8+3,c=5*9+512,d=1<<4,e=-(7-10),f=~5,g=0xff&(-1>>>28),h=100/4%7,i=(3-5)*2,j=1e3/8;' +
      'globalThis.out=()=>[a,b,c,d,e,f,g,h,i,j,new Uint8Array(b).length,{c}];})();';
    const r = inlineTopLevelConstants(src);
    expect(r.names.sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
    expect(r.code).not.toContain('var ');
    // Values by hand: 40, 11, 557, 16, 3, -6, 0xff & 15, 25 % 7, -4, 125.
    expect(r.code).toContain('[40,11,557,16,3,(-6),15,4,(-4),125,new Uint8Array(11).length,{c:557}]');
    expect(JSON.stringify(run(r.code))).toBe(JSON.stringify(run(src)));
  });

  it('folds a chain of dependent constants, including a plain alias', () => {
    const src =
      '(()=>{var r=20,q=2*r,p=q+r*3,o=p<<1,n=o,m=n-r,k=new Uint8Array(m);globalThis.out=()=>[r,q,p,o,n,m,k.length,o.toString(16)];})();';
    const r = inlineTopLevelConstants(src);
    expect(r.names.sort()).toEqual(['m', 'n', 'o', 'p', 'q', 'r']);
    expect(r.code).toContain('var k=new Uint8Array(180);');
    expect(r.code).toContain('[20,40,100,200,200,180,k.length,(200).toString(16)]');
    expect(JSON.stringify(run(r.code))).toBe(JSON.stringify(run(src)));
  });

  it('folds expressions that are constant once the names are inlined, and nothing else', () => {
    const src =
      '(()=>{var a=16,x=[5];globalThis.out=()=>[new Uint8Array(a+3).length,(8+3).toString(2),x[0]*(2-a),-(a*2),x[0]+a+1,a/3,"s"+1,Math.max(a,2)+1];})();';
    const r = inlineTopLevelConstants(src);
    expect(r.code).toContain('[new Uint8Array(19).length,(11).toString(2),x[0]*((-14)),(-32),x[0]+16+1,16/3,"s"+1,Math.max(16,2)+1]');
    expect(JSON.stringify(run(r.code))).toBe(JSON.stringify(run(src)));
  });

  it('refuses expressions that are not exact constants, and keeps every other safety rule', () => {
    const cases: [string, string][] = [
      ['reassigned binding', 'var a=2*3;a=1;globalThis.out=()=>a;'],
      ['updated binding', 'var a=2*3;a+=1;globalThis.out=()=>a;'],
      ['depends on a reassigned one', 'var b=4,a=b*2;b++;globalThis.out=()=>[a,b];'],
      ['shadowed name', 'var a=2*3;function g(a){return a}globalThis.out=()=>[a,g(1)];'],
      ['depends on a shadowed one', 'var b=4,a=b+1;function g(b){return b}globalThis.out=()=>[a,g(1)];'],
      ['call', 'var a=2*Math.abs(-3);globalThis.out=()=>a;'],
      ['non-constant identifier', 'var x=new Uint8Array(4),a=x.length*2;globalThis.out=()=>a;'],
      ['undeclared identifier', 'globalThis.Q=5;var a=Q*2;globalThis.out=()=>a;'],
      ['string operand', 'var a="4"*2;globalThis.out=()=>a;'],
      ['division to Infinity', 'var a=1/0;globalThis.out=()=>a;'],
      ['division to NaN', 'var a=0/0;globalThis.out=()=>a;'],
      ['non-finite intermediate', 'var a=1/(1/0);globalThis.out=()=>a;'],
      ['non-integer result', 'var a=7/2;globalThis.out=()=>a;'],
      ['negative zero', 'var a=0*-1;globalThis.out=()=>1/a;'],
      ['bit operand beyond int32', 'var a=4294967296|0;globalThis.out=()=>a;'],
      ['shift count beyond 31', 'var a=1<<33;globalThis.out=()=>a;'],
      ['used before its declaration', 'var a=b*2,b=3;globalThis.out=()=>[a,b];'],
      ['unsupported operator', 'var a=2**3,c=+"3",d=typeof 3;globalThis.out=()=>[a,c,d];'],
    ];
    for (const [what, body] of cases) {
      const src = '(()=>{' + body + '})();';
      const r = inlineTopLevelConstants(src);
      expect(
        r.names.filter((n) => n === 'a'),
        what,
      ).toEqual([]);
      expect(JSON.stringify(run(r.code)), what).toBe(JSON.stringify(run(src)));
    }
  });

  it('returns other bundle shapes unchanged', () => {
    const src = 'var a=1;globalThis.out=()=>a;';
    expect(inlineTopLevelConstants(src)).toEqual({ code: src, inlined: 0, names: [] });
  });
});
