#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sigward_policy::fuzz::admission_review(
    data,
    sigward_fuzz::example_policies()
));
