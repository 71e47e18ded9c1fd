//! The wasm floor for benchmarks: a proxy-wasm HTTP filter with a root and an HTTP context that
//! let every callback continue. Built with the same profile as Access Guardrails, so the
//! difference between the two is the cost of deciding.

#[cfg(target_arch = "wasm32")]
mod filter {
    use proxy_wasm::traits::{Context, HttpContext, RootContext};
    use proxy_wasm::types::{ContextType, LogLevel};

    proxy_wasm::main! {{
        proxy_wasm::set_log_level(LogLevel::Warn);
        proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(EmptyRoot) });
    }}

    struct EmptyRoot;
    impl Context for EmptyRoot {}
    impl RootContext for EmptyRoot {
        fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
            Some(Box::new(EmptyStream))
        }
        fn get_type(&self) -> Option<ContextType> {
            Some(ContextType::HttpContext)
        }
    }

    struct EmptyStream;
    impl Context for EmptyStream {}
    impl HttpContext for EmptyStream {}
}
