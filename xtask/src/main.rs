//! Developer tasks. Placeholder until the task modules land.
fn main() {}
