fn main() -> std::process::ExitCode {
    jules::cli::main()
}
