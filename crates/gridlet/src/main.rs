//! The `gridlet` binary.

fn main() -> std::process::ExitCode {
    gridlet::cli::main()
}
