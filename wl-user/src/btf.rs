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

/// The kernel's BTF blob, read lazily: one pass at parse time records where each type's
/// record starts, and lookups decode names and members from the bytes. Nothing per type
/// or per member is allocated, which keeps a parse of the ~5 MB vmlinux blob to a few
/// milliseconds and about as much memory as the blob itself.
pub struct Btf {
    data: Vec<u8>,
    strings: std::ops::Range<usize>,
    /// Offset in `data` of each type's record, indexed by type id; id 0 is `void`.
    records: Vec<u32>,
}

/// One type record's header (Documentation/bpf/btf.rst, "Type Encoding").
struct Record {
    name_off: u32,
    kind: u32,
    vlen: usize,
    kind_flag: bool,
    /// Where the kind-specific data after the 12-byte header starts.
    rest: usize,
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
        Btf::parse(data).with_context(|| format!("cannot parse {path}"))
    }

    pub fn parse(data: impl Into<Vec<u8>>) -> Result<Btf> {
        let data = data.into();
        if data.len() < 24 || u16::from_le_bytes([data[0], data[1]]) != BTF_MAGIC {
            bail!("not little-endian BTF");
        }
        let hdr_len = u32_at(&data, 4)? as usize;
        let type_off = u32_at(&data, 8)? as usize;
        let type_len = u32_at(&data, 12)? as usize;
        let str_off = u32_at(&data, 16)? as usize;
        let str_len = u32_at(&data, 20)? as usize;
        let types = hdr_len + type_off..hdr_len + type_off + type_len;
        let strings = hdr_len + str_off..hdr_len + str_off + str_len;
        if types.end > data.len() || strings.end > data.len() {
            bail!("BTF sections out of bounds");
        }
        let mut records = vec![0];
        let mut at = types.start;
        while at < types.end {
            records.push(at as u32);
            let info = u32_at(&data, at + 4)?;
            let vlen = (info & 0xffff) as usize;
            at += 12
                + match (info >> 24) & 0x1f {
                    KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                    KIND_ARRAY => 12,
                    KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * vlen,
                    KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen,
                    _ => 0,
                };
        }
        if at != types.end {
            bail!("BTF type section is truncated");
        }
        Ok(Btf {
            data,
            strings,
            records,
        })
    }

    fn record(&self, id: u32) -> Option<Record> {
        let at = *self.records.get(id as usize)? as usize;
        if id == 0 {
            return None;
        }
        let info = u32_at(&self.data, at + 4).ok()?;
        Some(Record {
            name_off: u32_at(&self.data, at).ok()?,
            kind: (info >> 24) & 0x1f,
            vlen: (info & 0xffff) as usize,
            kind_flag: info >> 31 == 1,
            rest: at + 12,
        })
    }

    fn name(&self, off: u32) -> &[u8] {
        let rest = self
            .data
            .get(self.strings.start + off as usize..self.strings.end)
            .unwrap_or_default();
        &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())]
    }

    /// The first type of `kind` named `name`.
    fn find(&self, kind: u32, name: &str) -> Option<u32> {
        (1..self.records.len() as u32).find(|&id| {
            self.record(id)
                .is_some_and(|r| r.kind == kind && self.name(r.name_off) == name.as_bytes())
        })
    }

    /// Whether the kernel declares typedef `name` (a BTF raw tracepoint `tp` exists where
    /// its `btf_trace_<tp>` typedef does).
    pub fn has_typedef(&self, name: &str) -> bool {
        self.find(KIND_TYPEDEF, name).is_some()
    }

    /// How many arguments BTF raw tracepoint `tp` passes its programs: its
    /// `btf_trace_<tp>` typedef is a pointer to a function whose first parameter is the
    /// tracepoint's own data, not an argument.
    pub fn tracepoint_args(&self, tp: &str) -> Option<usize> {
        let typedef = self.find(KIND_TYPEDEF, &format!("btf_trace_{tp}"))?;
        let target =
            |id: u32| u32_at(&self.data, *self.records.get(id as usize)? as usize + 8).ok();
        let proto = target(target(typedef)?)?;
        let r = self.record(proto)?;
        (r.kind == KIND_FUNC_PROTO).then(|| r.vlen.saturating_sub(1))
    }

    /// Byte offset of `field` in `struct_name`, looking through anonymous structs and
    /// unions the way C does.
    pub fn field_offset(&self, struct_name: &str, field: &str) -> Result<u32> {
        let id = self
            .find(KIND_STRUCT, struct_name)
            .with_context(|| format!("the kernel's BTF has no struct {struct_name}"))?;
        self.find_member(id, field.as_bytes())
            .map(|bits| bits / 8)
            .with_context(|| format!("the kernel's struct {struct_name} has no field {field}"))
    }

    /// The bit offset of `field` in struct or union `id`.
    fn find_member(&self, id: u32, field: &[u8]) -> Option<u32> {
        let r = self.record(id)?;
        if !matches!(r.kind, KIND_STRUCT | KIND_UNION) {
            return None;
        }
        for m in 0..r.vlen {
            let at = r.rest + 12 * m;
            let name_off = u32_at(&self.data, at).ok()?;
            let type_id = u32_at(&self.data, at + 4).ok()?;
            let offset = u32_at(&self.data, at + 8).ok()?;
            // With kind_flag the top 8 bits are a bitfield's size.
            let bit_offset = if r.kind_flag {
                offset & 0xff_ffff
            } else {
                offset
            };
            if name_off != 0 && self.name(name_off) == field {
                return Some(bit_offset);
            }
            if name_off == 0
                && let Some(inner) = self.find_member(type_id, field)
            {
                return Some(bit_offset + inner);
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
        let btf = Btf::parse(sample()).unwrap();
        assert_eq!(btf.field_offset("outer", "x").unwrap(), 0);
        assert_eq!(btf.field_offset("outer", "pad").unwrap(), 4);
        assert_eq!(btf.field_offset("outer", "in").unwrap(), 8);
        assert_eq!(btf.field_offset("outer", "y").unwrap(), 16);
        assert_eq!(btf.field_offset("inner", "b").unwrap(), 4);
    }

    #[test]
    fn missing_names_are_errors() {
        let btf = Btf::parse(sample()).unwrap();
        assert!(btf.field_offset("outer", "nope").is_err());
        assert!(btf.field_offset("nope", "x").is_err());
        assert!(Btf::parse(b"not btf at all, surely not".to_vec()).is_err());
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
