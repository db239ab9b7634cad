//! Fault injection for tests: an armed point makes the operation passing it fail there, as a
//! crash at that moment would leave things. Only debug builds (what tests run) can arm one;
//! in a release build `check` compiles to nothing.

#[derive(Debug, Default)]
pub struct FaultPoints {
    #[cfg(debug_assertions)]
    armed: std::sync::Mutex<Vec<&'static str>>,
    /// Points that fail every time until released.
    #[cfg(debug_assertions)]
    held: std::sync::Mutex<Vec<&'static str>>,
}

impl FaultPoints {
    /// Makes the next pass through `point` fail (once).
    #[cfg(debug_assertions)]
    pub fn arm(&self, point: &'static str) {
        if let Ok(mut armed) = self.armed.lock() {
            armed.push(point);
        }
    }

    /// Makes every pass through `point` fail until `release`.
    #[cfg(debug_assertions)]
    pub fn hold(&self, point: &'static str) {
        if let Ok(mut held) = self.held.lock() {
            held.push(point);
        }
    }

    /// Lets `point` pass again after `hold`.
    #[cfg(debug_assertions)]
    pub fn release(&self, point: &'static str) {
        if let Ok(mut held) = self.held.lock() {
            held.retain(|p| *p != point);
        }
    }

    /// Fails when `point` is held, or armed (disarming it).
    pub fn check(&self, point: &'static str) -> anyhow::Result<()> {
        #[cfg(debug_assertions)]
        {
            if self.held.lock().is_ok_and(|held| held.contains(&point)) {
                anyhow::bail!("fault held at {point}");
            }
            if let Ok(mut armed) = self.armed.lock()
                && let Some(at) = armed.iter().position(|p| *p == point)
            {
                armed.remove(at);
                anyhow::bail!("fault injected at {point}");
            }
        }
        let _ = point;
        Ok(())
    }
}
