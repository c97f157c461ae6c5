// A new migration file does not change any Rust source, so tell cargo to rebuild when one appears.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
