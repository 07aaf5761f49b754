fn main() -> std::process::ExitCode {
    pgstack::cli::main()
}
