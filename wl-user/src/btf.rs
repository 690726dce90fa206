//! Just enough of a BTF reader to find where a few fields of `task_struct` sit in the
//! running kernel (`/sys/kernel/btf/vmlinux`). The kernel side reads those fields through
//! offsets it is given at load time, because Rust BPF programs have no CO-RE relocations.
//!
//! Format: Documentation/bpf/btf.rst (header, type section, string section).

use anyhow::{Context as _, Result, bail};

const BTF_MAGIC: u16 = 0xeb9f;

const KIND_INT: u32 = 1;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_TYPEDEF: u32 = 8;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_DECL_TAG: u32 = 17;
const KIND_ENUM64: u32 = 19;

struct Member {
    name_off: u32,
    type_id: u32,
    bit_offset: u32,
}

struct Type {
    name_off: u32,
    kind: u32,
    members: Vec<Member>,
}

/// The parsed type graph of one BTF blob: only names, kinds and struct members.
pub struct Btf {
    strings: Vec<u8>,
    /// Indexed by type id; id 0 is `void`.
    types: Vec<Type>,
}

fn u32_at(data: &[u8], at: usize) -> Result<u32> {
    let bytes = data.get(at..at + 4).context("BTF data is truncated")?;
    Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
}

impl Btf {
    pub fn from_sys_fs() -> Result<Btf> {
        let path = "/sys/kernel/btf/vmlinux";
        let data = std::fs::read(path).with_context(|| {
            format!(
                "cannot read {path}: this kernel has no BTF (CONFIG_DEBUG_INFO_BTF), which wl needs"
            )
        })?;
        Btf::parse(&data).with_context(|| format!("cannot parse {path}"))
    }

    pub fn parse(data: &[u8]) -> Result<Btf> {
        if data.len() < 24 || u16::from_le_bytes([data[0], data[1]]) != BTF_MAGIC {
            bail!("not little-endian BTF");
        }
        let hdr_len = u32_at(data, 4)? as usize;
        let type_off = u32_at(data, 8)? as usize;
        let type_len = u32_at(data, 12)? as usize;
        let str_off = u32_at(data, 16)? as usize;
        let str_len = u32_at(data, 20)? as usize;
        let types_data = data
            .get(hdr_len + type_off..hdr_len + type_off + type_len)
            .context("BTF type section out of bounds")?;
        let strings = data
            .get(hdr_len + str_off..hdr_len + str_off + str_len)
            .context("BTF string section out of bounds")?
            .to_vec();

        let mut types = vec![Type {
            name_off: 0,
            kind: 0,
            members: Vec::new(),
        }];
        let mut at = 0;
        while at < types_data.len() {
            let name_off = u32_at(types_data, at)?;
            let info = u32_at(types_data, at + 4)?;
            at += 12;
            let vlen = (info & 0xffff) as usize;
            let kind = (info >> 24) & 0x1f;
            let kind_flag = info >> 31 == 1;
            let mut members = Vec::new();
            match kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => at += 4,
                KIND_ARRAY => at += 12,
                KIND_STRUCT | KIND_UNION => {
                    for _ in 0..vlen {
                        let offset = u32_at(types_data, at + 8)?;
                        members.push(Member {
                            name_off: u32_at(types_data, at)?,
                            type_id: u32_at(types_data, at + 4)?,
                            // With kind_flag the top 8 bits are a bitfield's size.
                            bit_offset: if kind_flag {
                                offset & 0xff_ffff
                            } else {
                                offset
                            },
                        });
                        at += 12;
                    }
                }
                KIND_ENUM | KIND_FUNC_PROTO => at += 8 * vlen,
                KIND_DATASEC | KIND_ENUM64 => at += 12 * vlen,
                _ => {}
            }
            types.push(Type {
                name_off,
                kind,
                members,
            });
        }
        Ok(Btf { strings, types })
    }

    fn name(&self, off: u32) -> &[u8] {
        let rest = self.strings.get(off as usize..).unwrap_or_default();
        &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())]
    }

    fn struct_id(&self, name: &str) -> Result<u32> {
        self.types
            .iter()
            .position(|t| t.kind == KIND_STRUCT && self.name(t.name_off) == name.as_bytes())
            .map(|i| i as u32)
            .with_context(|| format!("the kernel's BTF has no struct {name}"))
    }

    /// Whether the kernel declares typedef `name` (a BTF raw tracepoint `tp` exists where
    /// its `btf_trace_<tp>` typedef does).
    pub fn has_typedef(&self, name: &str) -> bool {
        self.types
            .iter()
            .any(|t| t.kind == KIND_TYPEDEF && self.name(t.name_off) == name.as_bytes())
    }

    /// Byte offset of `field` in `struct_name`, looking through anonymous structs and
    /// unions the way C does.
    pub fn field_offset(&self, struct_name: &str, field: &str) -> Result<u32> {
        let id = self.struct_id(struct_name)?;
        self.find_member(id, field.as_bytes())
            .map(|bits| bits / 8)
            .with_context(|| format!("the kernel's struct {struct_name} has no field {field}"))
    }

    fn find_member(&self, id: u32, field: &[u8]) -> Option<u32> {
        let t = self.types.get(id as usize)?;
        for m in &t.members {
            if self.name(m.name_off) == field {
                return Some(m.bit_offset);
            }
            if m.name_off == 0 {
                let inner = self.types.get(m.type_id as usize)?;
                if matches!(inner.kind, KIND_STRUCT | KIND_UNION)
                    && let Some(off) = self.find_member(m.type_id, field)
                {
                    return Some(m.bit_offset + off);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-assembled blob: `struct inner { int a; int b; }` and
    /// `struct outer { int x; struct { int pad; struct inner in; }; int y; }` (anonymous
    /// member at byte 4).
    fn sample() -> Vec<u8> {
        let strings = b"\0int\0inner\0a\0b\0outer\0x\0y\0pad\0in\0".to_vec();
        let s = |name: &str| -> u32 {
            let needle = [b"\0".as_slice(), name.as_bytes(), b"\0"].concat();
            strings
                .windows(needle.len())
                .position(|w| w == needle.as_slice())
                .unwrap() as u32
                + 1
        };
        let mut types = Vec::new();
        let mut ty = |name: u32, info: u32, size: u32, extra: &[u32]| {
            for v in [name, info, size].iter().chain(extra) {
                types.extend_from_slice(&v.to_le_bytes());
            }
        };
        // 1: int
        ty(s("int"), KIND_INT << 24, 4, &[32]);
        // 2: struct inner { a@0, b@32 }
        ty(
            s("inner"),
            KIND_STRUCT << 24 | 2,
            8,
            &[s("a"), 1, 0, s("b"), 1, 32],
        );
        // 3: anonymous struct { pad@0, in@32 }
        ty(
            0,
            KIND_STRUCT << 24 | 2,
            12,
            &[s("pad"), 1, 0, s("in"), 2, 32],
        );
        // 4: struct outer { x@0, <anon>@32, y@128 }
        ty(
            s("outer"),
            KIND_STRUCT << 24 | 3,
            20,
            &[s("x"), 1, 0, 0, 3, 32, s("y"), 1, 128],
        );
        let mut blob = Vec::new();
        blob.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        blob.extend_from_slice(&[1, 0]);
        for v in [
            24u32,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            blob.extend_from_slice(&v.to_le_bytes());
        }
        blob.extend_from_slice(&types);
        blob.extend_from_slice(&strings);
        blob
    }

    #[test]
    fn finds_direct_and_anonymous_members() {
        let btf = Btf::parse(&sample()).unwrap();
        assert_eq!(btf.field_offset("outer", "x").unwrap(), 0);
        assert_eq!(btf.field_offset("outer", "pad").unwrap(), 4);
        assert_eq!(btf.field_offset("outer", "in").unwrap(), 8);
        assert_eq!(btf.field_offset("outer", "y").unwrap(), 16);
        assert_eq!(btf.field_offset("inner", "b").unwrap(), 4);
    }

    #[test]
    fn missing_names_are_errors() {
        let btf = Btf::parse(&sample()).unwrap();
        assert!(btf.field_offset("outer", "nope").is_err());
        assert!(btf.field_offset("nope", "x").is_err());
        assert!(Btf::parse(b"not btf at all, surely not").is_err());
    }

    #[test]
    fn reads_the_running_kernel() {
        let Ok(btf) = Btf::from_sys_fs() else {
            eprintln!("skipped: no /sys/kernel/btf/vmlinux on this machine");
            return;
        };
        // thread_info is the first member of task_struct on every arch that has it there.
        assert!(btf.field_offset("task_struct", "tgid").unwrap() > 0);
        assert!(btf.field_offset("task_struct", "signal").unwrap() > 0);
        assert!(btf.field_offset("signal_struct", "live").is_ok());
    }
}
