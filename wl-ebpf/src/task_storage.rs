//! A BTF-defined `BPF_MAP_TYPE_TASK_STORAGE` map: one value per task, found through the
//! task itself rather than a shared hash, so that keeping a syscall's start time costs
//! no lock and no hashing. aya-ebpf 0.2 has inode, socket and cgroup storage but not task
//! storage; this follows the same BTF map convention (a `.maps` struct whose pointer
//! fields encode type, key, value, size and flags).

use core::ptr;

use aya_ebpf::{
    bindings::{BPF_F_NO_PREALLOC, BPF_LOCAL_STORAGE_GET_F_CREATE, bpf_map_type},
    helpers::generated::bpf_task_storage_get,
};

/// Local storage maps take no `max_entries` and must not be preallocated.
#[repr(C)]
pub struct TaskStorage<T> {
    r#type: *const [i32; bpf_map_type::BPF_MAP_TYPE_TASK_STORAGE as usize],
    key: *const i32,
    value: *const T,
    max_entries: *const [i32; 0],
    map_flags: *const [i32; BPF_F_NO_PREALLOC as usize],
}

// SAFETY: the fields are never dereferenced; the loader reads the struct's BTF and
// replaces every use of the static with the map's file descriptor.
unsafe impl<T> Sync for TaskStorage<T> {}

impl<T> TaskStorage<T> {
    pub const fn new() -> Self {
        TaskStorage {
            r#type: ptr::null(),
            key: ptr::null(),
            value: ptr::null(),
            max_entries: ptr::null(),
            map_flags: ptr::null(),
        }
    }

    #[inline(always)]
    fn get(&self, task: *mut aya_ebpf::bindings::task_struct, init: *mut T, flags: u64) -> *mut T {
        // SAFETY: `task` comes from `bpf_get_current_task_btf`, a trusted task pointer, and
        // the helper checks everything else; the result is null or a valid `T`.
        unsafe {
            bpf_task_storage_get(
                ptr::from_ref(self).cast_mut().cast(),
                task.cast(),
                init.cast(),
                flags,
            )
            .cast()
        }
    }

    /// The value stored for `task`, if any.
    #[inline(always)]
    pub fn lookup(&self, task: *mut aya_ebpf::bindings::task_struct) -> Option<&mut T> {
        // SAFETY: non-null results point at this task's value, which lives as long as
        // the task; a BPF program runs to completion on one CPU.
        unsafe { self.get(task, ptr::null_mut(), 0).as_mut() }
    }

    /// The value stored for `task`, created zeroed if there was none.
    #[inline(always)]
    pub fn lookup_or_create(&self, task: *mut aya_ebpf::bindings::task_struct) -> Option<&mut T> {
        // SAFETY: as in `lookup`.
        unsafe {
            self.get(task, ptr::null_mut(), BPF_LOCAL_STORAGE_GET_F_CREATE as u64)
                .as_mut()
        }
    }
}
