//! Compiles `proto/sightline/v1/*.proto` (the log's record format) with prost.
fn main() {
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc");
    std::env::set_var("PROTOC", protoc);
    println!("cargo:rerun-if-changed=proto");
    prost_build::compile_protos(&["proto/sightline/v1/record.proto"], &["proto"]).expect("compile protos");
}
