//! A unit of work for libuv's thread pool that resolves to JSON text (parsed and typed in TypeScript).

use napi::{Env, Task};

type Work = Box<dyn FnOnce() -> napi::Result<String> + Send>;

pub struct JsonTask {
    work: Option<Work>,
}

impl JsonTask {
    pub fn new(work: impl FnOnce() -> napi::Result<String> + Send + 'static) -> Self {
        JsonTask { work: Some(Box::new(work)) }
    }
}

impl Task for JsonTask {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<String> {
        self.work.take().expect("a task runs once")()
    }

    fn resolve(&mut self, _env: Env, output: String) -> napi::Result<String> {
        Ok(output)
    }
}
