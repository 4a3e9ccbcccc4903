//! The host emulator of the kernels: [`KernelCall`]s run on the CPU. Every kernel file is
//! compiled as C++20 together with `emulator/shim.hpp` (g++, or `$CXX`) into one shared
//! library, once per machine and source (cached under the temporary directory by a hash of
//! the source) and loaded once per process; each launch then calls into it by name, with the
//! caller's host buffers as the device memory, so a launch costs what its arithmetic costs.
//!
//! It exists for tests: the kernels' index arithmetic and formulas are checked against lft's
//! CPU code on any machine with a C++ compiler, no GPU needed. Floating-point contraction is
//! off, as in Rust, so results agree with the CPU to rounding; the GPU itself fuses
//! multiply-adds and gets its own parity tolerance. The library checks every argument's type
//! against the kernel's parameter; it does not check indices, so a kernel writing out of
//! bounds corrupts the test process (where the GPU would fault).

use crate::call::{Arg, HostBuffer, KernelCall};
use crate::kernels::{KERNELS, PRELUDE};
use std::ffi::{CString, c_char};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Why an emulation did not run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EmulationError {
    #[error("no C++ compiler ({0}) to emulate the kernels with")]
    NoCompiler(String),
    #[error("the emulator did not compile:\n{0}")]
    Compile(String),
    #[error("the emulator library could not be loaded: {0}")]
    Load(String),
    #[error("the emulated kernel {function} failed: {reason}")]
    Run {
        function: &'static str,
        reason: String,
    },
    #[error("emulator files: {0}")]
    Io(String),
}

impl From<std::io::Error> for EmulationError {
    fn from(e: std::io::Error) -> Self {
        EmulationError::Io(e.to_string())
    }
}

const SHIM: &str = include_str!("../emulator/shim.hpp");

/// The C++ compiler: `$CXX`, else `g++`.
fn compiler() -> String {
    std::env::var("CXX").unwrap_or_else(|_| "g++".to_string())
}

/// Whether a C++ compiler is there to emulate with.
pub fn available() -> bool {
    Command::new(compiler())
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The library's source: the shim, the prelude, every kernel file, and the dispatcher
/// `lft_emu_launch` that finds a kernel by name and converts its arguments.
fn program() -> String {
    let mut s = String::from(SHIM);
    s.push_str("\n#line 1 \"kernels/common.cuh\"\n");
    s.push_str(PRELUDE);
    for k in KERNELS {
        let _ = write!(s, "\n#line 1 \"kernels/{}.cu\"\n{}\n", k.name, k.source);
    }
    s.push_str(
        "\nextern \"C\" __attribute__((visibility(\"default\"))) int lft_emu_launch(\
         const char* function, const unsigned* geometry, unsigned long long shared, \
         const lft_emu::Arg* args, int n) {\n\
         \x20   dim3 grid{geometry[0], geometry[1], geometry[2]};\n\
         \x20   dim3 block{geometry[3], geometry[4], geometry[5]};\n",
    );
    for k in KERNELS {
        for f in k.functions {
            let fibers = needs_fibers(k.source, f);
            let _ = writeln!(
                s,
                "    if (!strcmp(function, \"{f}\")) return lft_emu::invoke({f}, {fibers}, grid, block, shared, args, n);"
            );
        }
    }
    s.push_str("    return 4;\n}\n");
    s
}

/// Whether kernel `function` of `source` may reach a barrier: its body synchronises, or calls
/// the prelude's block reductions (which do). Kernels that cannot run their threads as plain
/// calls, far faster than fibers; a barrier reached there anyway aborts with a message.
fn needs_fibers(source: &str, function: &str) -> bool {
    let head = format!("__global__ void {function}(");
    let Some(start) = source.find(&head) else {
        return true;
    };
    let body = &source[start + head.len()..];
    let end = body.find("extern \"C\"").unwrap_or(body.len());
    let body = &body[..end];
    ["__syncthreads", "block_sum", "block_max"]
        .iter()
        .any(|barrier| body.contains(barrier))
}

/// 64-bit FNV-1a: the cache key of a compiled library.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

#[repr(C)]
struct RawArg {
    kind: i32,
    pad: i32,
    bits: u64,
}

type LaunchFn = unsafe extern "C" fn(*const c_char, *const u32, u64, *const RawArg, i32) -> i32;

struct Library {
    launch: LaunchFn,
}

/// The compiled library for this source and compiler, building it if no process has yet.
fn library_path() -> Result<PathBuf, EmulationError> {
    let cxx = compiler();
    if !available() {
        return Err(EmulationError::NoCompiler(cxx));
    }
    let source = program();
    let dir = std::env::temp_dir().join(format!(
        "lft-emulator-{:016x}",
        fnv1a(&[&source, &cxx, "-O1"])
    ));
    let lib = dir.join("libkernels.so");
    if lib.exists() {
        return Ok(lib);
    }
    std::fs::create_dir_all(&dir)?;
    // Every process compiles under its own names, then renames: a concurrent one never sees a
    // half-written library.
    let pid = std::process::id();
    let (src, tmp) = (
        dir.join(format!("kernels-{pid}.cpp")),
        dir.join(format!("libkernels-{pid}.so")),
    );
    std::fs::write(&src, source)?;
    let out = Command::new(&cxx)
        .current_dir(&dir)
        .args(["-std=c++20", "-O1", "-ffp-contract=off", "-fPIC", "-shared"])
        .arg("-U_FORTIFY_SOURCE")
        .args(["-fvisibility=hidden", "-Wl,-Bsymbolic", "-w"])
        .arg(&src)
        .arg("-o")
        .arg(&tmp)
        .output()?;
    let _ = std::fs::remove_file(&src);
    if !out.status.success() {
        return Err(EmulationError::Compile(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    std::fs::rename(&tmp, &lib)?;
    Ok(lib)
}

#[cfg(unix)]
fn open(path: &Path) -> Result<Library, EmulationError> {
    let name = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|e| EmulationError::Load(e.to_string()))?;
    let error = || {
        // SAFETY: dlerror returns null or a C string valid until the next dl call.
        let e = unsafe { libc::dlerror() };
        if e.is_null() {
            "unknown error".to_string()
        } else {
            // SAFETY: non-null, NUL-terminated, as above.
            unsafe { std::ffi::CStr::from_ptr(e) }
                .to_string_lossy()
                .into_owned()
        }
    };
    // SAFETY: the library is ours, built above; it is never closed, so the function pointer
    // stays valid for the life of the process.
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return Err(EmulationError::Load(format!(
            "{}: {}",
            path.display(),
            error()
        )));
    }
    // SAFETY: as above.
    let symbol = unsafe { libc::dlsym(handle, c"lft_emu_launch".as_ptr()) };
    if symbol.is_null() {
        return Err(EmulationError::Load(error()));
    }
    // SAFETY: the symbol is the dispatcher of `program`, of exactly this signature.
    let launch = unsafe { std::mem::transmute::<*mut libc::c_void, LaunchFn>(symbol) };
    Ok(Library { launch })
}

#[cfg(not(unix))]
fn open(_: &Path) -> Result<Library, EmulationError> {
    Err(EmulationError::Load(
        "the emulator loads its library with dlopen (unix only)".into(),
    ))
}

fn library() -> Result<&'static Library, EmulationError> {
    static LIBRARY: OnceLock<Result<Library, EmulationError>> = OnceLock::new();
    LIBRARY
        .get_or_init(|| open(&library_path()?))
        .as_ref()
        .map_err(Clone::clone)
}

/// Builds (or finds) and loads the library now, so that the first launch does not pay for it.
pub fn prepare() -> Result<(), EmulationError> {
    library().map(|_| ())
}

const F64: i32 = 1;
const F32: i32 = 2;
const I32: i32 = 3;
const I64: i32 = 4;
const U32: i32 = 5;
const PTR_F64: i32 = 10;
const PTR_F32: i32 = 11;
const PTR_I32: i32 = 12;
const PTR_NULL: i32 = 13;

/// A buffer's base pointer, pointer kind, element size and length.
fn base(buffer: &mut HostBuffer) -> (*mut u8, i32, usize, usize) {
    match buffer {
        HostBuffer::F64(v) => (v.as_mut_ptr().cast(), PTR_F64, 8, v.len()),
        HostBuffer::F32(v) => (v.as_mut_ptr().cast(), PTR_F32, 4, v.len()),
        HostBuffer::I32(v) => (v.as_mut_ptr().cast(), PTR_I32, 4, v.len()),
    }
}

/// Runs `calls` on the host over `buffers` (read and written in place, as the device would).
/// Launches of all threads are serialised (the emulated blocks share one shared memory).
pub fn run(buffers: &mut [HostBuffer], calls: &[KernelCall]) -> Result<(), EmulationError> {
    static LOCK: Mutex<()> = Mutex::new(());
    let lib = library()?;
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let bases: Vec<_> = buffers.iter_mut().map(base).collect();
    for call in calls {
        let failed = |reason: String| EmulationError::Run {
            function: call.function,
            reason,
        };
        let mut args = Vec::with_capacity(call.args.len());
        for arg in &call.args {
            let (kind, bits) = match *arg {
                Arg::Buf(b) | Arg::BufAt(b, _) => {
                    let offset = if let Arg::BufAt(_, o) = *arg { o } else { 0 };
                    let &(ptr, kind, size, len) = bases
                        .get(b.0)
                        .ok_or_else(|| failed(format!("no buffer {}", b.0)))?;
                    if offset > len {
                        return Err(failed(format!(
                            "offset {offset} into buffer {} of {len}",
                            b.0
                        )));
                    }
                    (kind, ptr.wrapping_add(offset * size) as u64)
                }
                Arg::Null => (PTR_NULL, 0),
                Arg::F64(v) => (F64, v.to_bits()),
                Arg::F32(v) => (F32, u64::from(v.to_bits())),
                Arg::I32(v) => (I32, v as i64 as u64),
                Arg::I64(v) => (I64, v as u64),
                Arg::U32(v) => (U32, u64::from(v)),
            };
            args.push(RawArg { kind, pad: 0, bits });
        }
        let name = CString::new(call.function).expect("kernel names have no NUL");
        let l = &call.launch;
        let geometry = [
            l.grid.0, l.grid.1, l.grid.2, l.block.0, l.block.1, l.block.2,
        ];
        // SAFETY: the dispatcher checks the name, the argument count and every argument's
        // type against the kernel's parameters; the pointers are into `buffers`, borrowed
        // mutably for the whole call.
        let code = unsafe {
            (lib.launch)(
                name.as_ptr(),
                geometry.as_ptr(),
                u64::from(l.shared_bytes),
                args.as_ptr(),
                args.len() as i32,
            )
        };
        match code {
            0 => {}
            1 => {
                return Err(failed(format!(
                    "{} bytes of shared memory requested",
                    l.shared_bytes
                )));
            }
            2 => return Err(failed(format!("{} arguments do not fit", args.len()))),
            3 => return Err(failed("an argument of another type".into())),
            4 => return Err(failed("no such kernel".into())),
            c => return Err(failed(format!("code {c}"))),
        }
    }
    Ok(())
}
