//! Units of work for libuv's thread pool, each resolving to one typed value. `native_task!` declares
//! one per result type: napi-rs writes `Promise<T>` into index.d.ts only for a task type whose
//! `impl Task` it sees, so the result's type is part of the generated contract.

/// `native_task!(Name -> Output)`: a task that runs a closure on the pool and resolves to `Output`
/// (a `#[napi(object)]` type, a number, an Option, or `()`). `Name::run(work)` makes the AsyncTask.
macro_rules! native_task {
    ($name:ident -> $output:ty) => {
        pub struct $name(Option<Box<dyn FnOnce() -> napi::Result<$output> + Send>>);

        impl $name {
            pub fn run(work: impl FnOnce() -> napi::Result<$output> + Send + 'static) -> napi::bindgen_prelude::AsyncTask<$name> {
                napi::bindgen_prelude::AsyncTask::new($name(Some(Box::new(work))))
            }
        }

        #[napi_derive::napi]
        impl napi::Task for $name {
            type Output = $output;
            type JsValue = $output;

            fn compute(&mut self) -> napi::Result<$output> {
                match self.0.take() {
                    Some(work) => work(),
                    None => Err(napi::Error::from_reason("internal error in minilm (please report it): a task ran twice")),
                }
            }

            fn resolve(&mut self, _env: napi::Env, output: $output) -> napi::Result<$output> {
                Ok(output)
            }
        }
    };
}

pub(crate) use native_task;
