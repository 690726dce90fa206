//! Reading kernel objects through BTF pointers: the field offsets the loader found in
//! the running kernel's BTF (`OFFSETS`), and the loads at them.

use aya_ebpf::Global;
use wl_common::KernelOffsets;

/// Field offsets of the running kernel, read from its BTF by the loader.
#[unsafe(no_mangle)]
pub(crate) static OFFSETS: Global<KernelOffsets> = Global::new(KernelOffsets::UNSET);

/// One field of [`OFFSETS`], read alone. `Global::load` would read the whole struct, and
/// volatile reads are never dropped: every syscall of the machine would pay for a load
/// of each of the twelve fields.
macro_rules! offset {
    ($field:ident) => {
        $crate::btf::kernel_offset(core::mem::offset_of!(wl_common::KernelOffsets, $field))
    };
}

#[inline(always)]
pub(crate) fn kernel_offset(at: usize) -> u32 {
    // SAFETY: `Global<T>` is `repr(transparent)` over a `MaybeUninit<T>` that is always
    // initialised, and `at` is the offset of a `u32` field of `KernelOffsets`.
    unsafe {
        core::ptr::read_volatile(
            core::ptr::addr_of!(OFFSETS)
                .cast::<u8>()
                .add(at)
                .cast::<u32>(),
        )
    }
}

/// Reads a pointer field `offset` bytes into a BTF-typed kernel object.
///
/// # Safety
/// As for [`read_u32`].
#[inline(always)]
pub(crate) unsafe fn read_ptr(base: *const u8, offset: u32) -> *const u8 {
    unsafe { core::ptr::read_volatile(base.add(offset as usize).cast::<*const u8>()) }
}

/// Reads a `u32` field `offset` bytes into a BTF-typed kernel object.
///
/// # Safety
/// `base` must be a BTF pointer (from a tracepoint argument or `bpf_get_current_task_btf`);
/// the verifier checks that `offset` names a scalar field of its type.
#[inline(always)]
pub(crate) unsafe fn read_u32(base: *const u8, offset: u32) -> u32 {
    unsafe { core::ptr::read_volatile(base.add(offset as usize).cast::<u32>()) }
}

/// Reads a `u64` field `offset` bytes into a BTF-typed kernel object.
///
/// # Safety
/// As for [`read_u32`].
#[inline(always)]
pub(crate) unsafe fn read_u64(base: *const u8, offset: u32) -> u64 {
    unsafe { core::ptr::read_volatile(base.add(offset as usize).cast::<u64>()) }
}
