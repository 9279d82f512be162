//! `lmdiskann generate`: the seeded synthetic data the tests and benchmarks use, as files.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use lmdiskann::io::{write_fvecs, write_vectors_parquet};
use lmdiskann::synthetic::Clustered;

#[derive(clap::Args)]
pub struct Args {
    /// Base vectors to write.
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    #[arg(long, default_value_t = 128)]
    dims: usize,
    /// Query vectors (fresh draws from the same clusters); 0 writes none.
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Base vectors go here: .parquet (rowid + emb, as DuckDB exports) or .fvecs.
    #[arg(long, default_value = "vectors.parquet", value_name = "PATH")]
    output: PathBuf,
    /// Queries go here (.fvecs or .parquet).
    #[arg(long, default_value = "queries.fvecs", value_name = "PATH")]
    query_output: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.n > 0 && args.dims > 0, "--n and --dims must be at least 1");
    let data = Clustered::standard(args.dims, args.seed);
    write_set(&args.output, &data.sample(args.n, 0))?;
    if args.queries > 0 {
        write_set(&args.query_output, &data.sample(args.queries, 1))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `set` in the format the extension names.
pub fn write_set(path: &std::path::Path, set: &lmdiskann::VectorSet) -> anyhow::Result<()> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("parquet") | Some("pq") => write_vectors_parquet(path, set, true)?,
        Some("fvecs") => write_fvecs(path, set).with_context(|| format!("{}: cannot write", path.display()))?,
        _ => anyhow::bail!("{}: unknown extension: write .parquet or .fvecs", path.display()),
    }
    eprintln!("wrote {} ({} x {})", path.display(), set.len(), set.dims);
    Ok(())
}
