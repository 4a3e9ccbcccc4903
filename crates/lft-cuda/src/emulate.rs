//! The host emulator of the kernels: [`KernelCall`]s run on the CPU by compiling every kernel
//! file as C++20 together with `emulator/shim.hpp` (g++ or `$CXX`), each block's threads as
//! std::threads. It exists for tests: the kernels' index arithmetic and formulas are checked
//! against lft's CPU code on any machine with a C++ compiler, no GPU needed. Floating-point
//! contraction is off, as in Rust, so results agree with the CPU to rounding; the GPU itself
//! fuses multiply-adds and gets its own parity tolerance.

use crate::call::{Arg, HostBuffer, KernelCall};
use crate::kernels::{KERNELS, PRELUDE};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Why an emulation did not run.
#[derive(Debug, thiserror::Error)]
pub enum EmulationError {
    #[error("no C++ compiler ({0}) to emulate the kernels with")]
    NoCompiler(String),
    #[error("the emulator did not compile:\n{0}")]
    Compile(String),
    #[error("the emulated kernels failed:\n{0}")]
    Run(String),
    #[error("emulator files: {0}")]
    Io(#[from] std::io::Error),
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

fn work_dir() -> std::io::Result<PathBuf> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "lft-emulator-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn element(buffer: &HostBuffer) -> &'static str {
    match buffer {
        HostBuffer::F64(_) => "double",
        HostBuffer::F32(_) => "float",
        HostBuffer::I32(_) => "int",
    }
}

fn write_buffer(path: &Path, buffer: &HostBuffer) -> std::io::Result<()> {
    let bytes: Vec<u8> = match buffer {
        HostBuffer::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        HostBuffer::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        HostBuffer::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    };
    std::fs::write(path, bytes)
}

fn read_buffer(path: &Path, buffer: &mut HostBuffer) -> std::io::Result<()> {
    let bytes = std::fs::read(path)?;
    match buffer {
        HostBuffer::F64(v) => {
            for (x, b) in v.iter_mut().zip(bytes.chunks_exact(8)) {
                *x = f64::from_le_bytes(b.try_into().expect("8 bytes"));
            }
        }
        HostBuffer::F32(v) => {
            for (x, b) in v.iter_mut().zip(bytes.chunks_exact(4)) {
                *x = f32::from_le_bytes(b.try_into().expect("4 bytes"));
            }
        }
        HostBuffer::I32(v) => {
            for (x, b) in v.iter_mut().zip(bytes.chunks_exact(4)) {
                *x = i32::from_le_bytes(b.try_into().expect("4 bytes"));
            }
        }
    }
    Ok(())
}

/// The C++ expression of one argument.
fn argument(arg: &Arg) -> String {
    match *arg {
        Arg::Buf(b) => format!("b{}.data()", b.0),
        Arg::BufAt(b, offset) => format!("(b{}.data() + {offset})", b.0),
        Arg::Null => "nullptr".to_string(),
        Arg::F64(v) => format!("lft_emu::f64_bits({:#x}ULL)", v.to_bits()),
        Arg::F32(v) => format!("lft_emu::f32_bits({:#x}u)", v.to_bits()),
        Arg::I32(v) => format!("(int)({v})"),
        Arg::I64(v) => format!("(long long)({v}LL)"),
        Arg::U32(v) => format!("(unsigned)({v}u)"),
    }
}

/// The program: every kernel file, then a main that loads the buffers, runs the calls in order
/// and writes the buffers back.
fn program(buffers: &[HostBuffer], calls: &[KernelCall]) -> String {
    let mut s = String::from("#include \"shim.hpp\"\n");
    s.push_str(PRELUDE);
    for k in KERNELS {
        let _ = write!(s, "\n#line 1 \"kernels/{}.cu\"\n{}\n", k.name, k.source);
    }
    s.push_str("\nint main() {\n");
    for (i, b) in buffers.iter().enumerate() {
        let _ = writeln!(
            s,
            "    auto b{i} = lft_emu::load<{}>(\"b{i}.bin\", {});",
            element(b),
            b.len()
        );
    }
    for call in calls {
        let l = &call.launch;
        let args: Vec<String> = call.args.iter().map(argument).collect();
        let _ = writeln!(
            s,
            "    lft_launch(dim3{{{}, {}, {}}}, dim3{{{}, {}, {}}}, {}, [&] {{ {}({}); }});",
            l.grid.0,
            l.grid.1,
            l.grid.2,
            l.block.0,
            l.block.1,
            l.block.2,
            l.shared_bytes,
            call.function,
            args.join(", ")
        );
    }
    for i in 0..buffers.len() {
        let _ = writeln!(s, "    lft_emu::save(\"b{i}.bin\", b{i});");
    }
    s.push_str("    return 0;\n}\n");
    s
}

/// Runs `calls` on the host over `buffers` (read and written in place, as the device would).
pub fn run(buffers: &mut [HostBuffer], calls: &[KernelCall]) -> Result<(), EmulationError> {
    if !available() {
        return Err(EmulationError::NoCompiler(compiler()));
    }
    let dir = work_dir()?;
    std::fs::write(dir.join("shim.hpp"), SHIM)?;
    std::fs::write(dir.join("main.cpp"), program(buffers, calls))?;
    for (i, b) in buffers.iter().enumerate() {
        write_buffer(&dir.join(format!("b{i}.bin")), b)?;
    }
    let out = Command::new(compiler())
        .current_dir(&dir)
        .args(["-std=c++20", "-O1", "-ffp-contract=off", "-pthread", "-w"])
        .args(["main.cpp", "-o", "emulated"])
        .output()?;
    if !out.status.success() {
        return Err(EmulationError::Compile(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    let out = Command::new(dir.join("emulated"))
        .current_dir(&dir)
        .output()?;
    if !out.status.success() {
        return Err(EmulationError::Run(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    for (i, b) in buffers.iter_mut().enumerate() {
        read_buffer(&dir.join(format!("b{i}.bin")), b)?;
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
