"""Prints the Unicode range tables in lens-core/src/semantic/tokenizer.rs from the unicode_categories 0.1.1 crate (the tables HF tokenizers uses)."""
import re,glob,sys
src=open(glob.glob('/root/.cargo/registry/src/*/unicode_categories-0.1.1/src/tables.rs')[0]).read()
tabs={}
for m in re.finditer(r"pub static (\w+) : &'static \[char\] = &\[(.*?)\];",src,re.S):
    tabs[m.group(1)]=[int(x,16) for x in re.findall(r"\\u\{([0-9A-F]+)\}",m.group(2))]
def ranges(cps):
    cps=sorted(set(cps)); out=[]
    for c in cps:
        if out and out[-1][1]+1==c: out[-1][1]=c
        else: out.append([c,c])
    return out
other=tabs['OTHER_CONTROL']+tabs['OTHER_FORMAT']+list(range(0xE000,0xF900))+list(range(0xF0000,0xFFFFE))+list(range(0x100000,0x10FFFE))
mn=tabs['MARK_NONSPACING']
p=[]
for k in tabs:
    if k.startswith('PUNCTUATION_'): p+=tabs[k]
def emit(name,doc,rs):
    lines=[f"    /// {doc}",f"    pub(super) const {name}: &[(u32, u32)] = &["]
    row=[]
    for a,b in rs:
        row.append(f"(0x{a:04X}, 0x{b:04X})")
        if len(row)==5: lines.append("        "+", ".join(row)+","); row=[]
    if row: lines.append("        "+", ".join(row)+",")
    lines.append("    ];")
    return "\n".join(lines)
print(emit("OTHER","`is_other()`: Cc, Cf and Co (no Cn, no Cs).",ranges(other)))
print()
print(emit("MARK_NONSPACING","`is_mark_nonspacing()`: Mn.",ranges(mn)))
print()
print(emit("PUNCTUATION","`is_punctuation()`: Pc, Pd, Pe, Pf, Pi, Po, Ps.",ranges(p)))
for n,r in [('o',ranges(other)),('mn',ranges(mn)),('p',ranges(p))]: print(n,len(r),file=sys.stderr)
