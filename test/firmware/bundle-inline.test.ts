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
    const src = '(()=>{var a=16,b=-3,c=new Uint8Array(a),d=1e3;function f(x){return x*a+b}globalThis.out=()=>[f(2),c.length,d.toFixed(0),{a},-b,a.toString(16),typeof a];})();';
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

  it('returns other bundle shapes unchanged', () => {
    const src = 'var a=1;globalThis.out=()=>a;';
    expect(inlineTopLevelConstants(src)).toEqual({ code: src, inlined: 0, names: [] });
  });
});
