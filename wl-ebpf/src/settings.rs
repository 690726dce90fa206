//! Load-time settings: one read-only global the loader fills in before loading
//! (`EbpfLoader::override_global`), so the verifier sees constants and drops the
//! branches that do not apply. What changes at run time is in [`crate::maps`].

use aya_ebpf::Global;
use wl_common::Settings;

#[unsafe(no_mangle)]
pub(crate) static SETTINGS: Global<Settings> = Global::new(Settings::DEFAULT);

/// One field of [`SETTINGS`], read alone: `Global::load` would read the whole struct,
/// and volatile reads are never dropped, so every syscall of the machine would pay for
/// a load of each field.
macro_rules! setting {
    ($field:ident) => {
        $crate::settings::read(
            core::mem::offset_of!(wl_common::Settings, $field),
            |s: &wl_common::Settings| &s.$field,
        )
    };
}

/// The field of [`SETTINGS`] at byte `at`, of the type `_field` (never called) names.
#[inline(always)]
pub(crate) fn read<T: Copy>(at: usize, _field: impl Fn(&Settings) -> &T) -> T {
    // SAFETY: `Global<T>` is `repr(transparent)` over a `MaybeUninit<T>` that is always
    // initialised, and `at` is the offset of a field of type `T` (`setting!` takes both
    // from the field's name). Volatile, so that the loader's value is what counts.
    unsafe {
        core::ptr::read_volatile(
            core::ptr::addr_of!(SETTINGS)
                .cast::<u8>()
                .add(at)
                .cast::<T>(),
        )
    }
}

/// Bit `$i` of the bit-set field `$field` of [`SETTINGS`] (false past its end), reading
/// only the word that holds it.
macro_rules! setting_bit {
    ($field:ident, $i:expr) => {
        $crate::settings::bit(
            core::mem::offset_of!(wl_common::Settings, $field),
            |s: &wl_common::Settings| &s.$field,
            $i,
        )
    };
}

/// Bit `i` of the `W`-word bit set at byte `at` of [`SETTINGS`], of the field `_field`
/// (never called) names.
#[inline(always)]
pub(crate) fn bit<const W: usize>(
    at: usize,
    _field: impl Fn(&Settings) -> &[u64; W],
    i: u32,
) -> bool {
    let word = (i / 64) as usize;
    if word >= W {
        return false;
    }
    // SAFETY: as in `read`: `at` is the offset of a `[u64; W]` field, and `word < W`.
    let w = unsafe {
        core::ptr::read_volatile(
            core::ptr::addr_of!(SETTINGS)
                .cast::<u8>()
                .add(at + word * 8)
                .cast::<u64>(),
        )
    };
    (w >> (i % 64)) & 1 != 0
}
