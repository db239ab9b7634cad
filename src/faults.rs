//! Fault injection for tests: an armed point makes the operation passing it fail there, as a
//! crash at that moment would leave things. Only debug builds (what tests run) can arm one;
//! in a release build `check` compiles to nothing.

#[derive(Debug, Default)]
pub struct FaultPoints {
    #[cfg(debug_assertions)]
    armed: std::sync::Mutex<Vec<&'static str>>,
}

impl FaultPoints {
    /// Makes the next pass through `point` fail (once).
    #[cfg(debug_assertions)]
    pub fn arm(&self, point: &'static str) {
        if let Ok(mut armed) = self.armed.lock() {
            armed.push(point);
        }
    }

    /// Fails when `point` is armed, disarming it.
    pub fn check(&self, point: &'static str) -> anyhow::Result<()> {
        #[cfg(debug_assertions)]
        if let Ok(mut armed) = self.armed.lock()
            && let Some(at) = armed.iter().position(|p| *p == point)
        {
            armed.remove(at);
            anyhow::bail!("fault injected at {point}");
        }
        let _ = point;
        Ok(())
    }
}
