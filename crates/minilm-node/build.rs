fn main() {
    napi_build::setup();
    // The CUDA build calls the driver API (cuInit, cuLaunchKernel, ...) directly. It links against a stub
    // libcuda with no symbols (scripts/cuda/install-toolkit.sh: the real one comes with the driver), so
    // the linker would drop it as unneeded and the addon would load without the driver and fail on its
    // first call. Recording libcuda.so.1 as needed makes the loader bring in the driver's library, or
    // say plainly that it is missing.
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        println!("cargo:rustc-link-arg-cdylib=-Wl,--no-as-needed,-lcuda,--as-needed");
    }
}
