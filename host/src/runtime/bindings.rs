//! Host-side bindings generated from `wit/sigward.wit`; only `runtime` uses them.

wasmtime::component::bindgen!({
    world: "policy",
    path: "../wit",
});
