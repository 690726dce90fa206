//! What the kernel side reads per syscall to name its object and command: which
//! argument is the fd or the command, and which `file_operations` or `proto_ops`
//! member serves the call.

use wl_common::{Abi, ObjectSpec, syscall_slot};

use crate::{
    btf,
    syscalls::{AbiName, Knowledge, operations},
};

/// What the kernel side resolves for each slot: the operation of the syscall the
/// slot's number names, with member names turned into this kernel's offsets (a member
/// this kernel lacks is left out).
pub(super) fn object_specs(btf: &btf::Btf, knowledge: &Knowledge) -> Vec<(u32, ObjectSpec)> {
    let member = |strukt: &str, name: &str| {
        btf.field_offset(strukt, name)
            .ok()
            .and_then(|o| u16::try_from(o).ok())
            .unwrap_or(ObjectSpec::NO_MEMBER)
    };
    let mut out = Vec::new();
    for abi in [Abi::Native, Abi::Compat] {
        for sc in knowledge.table(AbiName::of(abi)) {
            let (Some(op), Some(slot)) = (
                operations::operation(abi, sc.name),
                syscall_slot(abi, sc.nr),
            ) else {
                continue;
            };
            let arg = |a: Option<(u8, u32)>| {
                a.map_or((ObjectSpec::NO_ARG, 0), |(i, m)| (ObjectSpec::arg(i), m))
            };
            let ((cmd_arg, cmd_mask), (cmd2_arg, cmd2_mask)) = (arg(op.cmd), arg(op.cmd2));
            let fop = |i: usize| {
                op.file_ops
                    .get(i)
                    .map_or(ObjectSpec::NO_MEMBER, |m| member("file_operations", m))
            };
            out.push((
                slot,
                ObjectSpec {
                    fd_arg: sc
                        .fd_arg
                        .filter(|_| op.on_fd)
                        .map_or(ObjectSpec::NO_ARG, ObjectSpec::arg),
                    cmd_arg,
                    cmd2_arg,
                    _pad: 0,
                    cmd_mask,
                    cmd2_mask,
                    fop: fop(0),
                    fop_fallback: fop(1),
                    sock_op: op
                        .socket_op
                        .map_or(ObjectSpec::NO_MEMBER, |m| member("proto_ops", m)),
                    _pad2: 0,
                },
            ));
        }
    }
    out
}
