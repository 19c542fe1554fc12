#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sigward_policy::fuzz::gatekeeper(
    data,
    sigward_fuzz::example_policies()
));
