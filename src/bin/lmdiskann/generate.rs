//! `lmdiskann generate`: the seeded synthetic data the tests and benchmarks use, as files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use lmdiskann::io::{write_fvecs_to, write_vectors_parquet_to};
use lmdiskann::storage::{destination, Destination, Written};
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

pub fn run(args: Args, force: bool) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.n > 0 && args.dims > 0, "--n and --dims must be at least 1");
    // Both outputs are checked before either is written.
    let base = vectors_destination(&args.output, force)?;
    let queries = (args.queries > 0).then(|| vectors_destination(&args.query_output, force)).transpose()?;
    let data = Clustered::standard(args.dims, args.seed);
    write_set(&base, &data.sample(args.n, 0))?;
    if let Some(queries) = &queries {
        write_set(queries, &data.sample(args.queries, 1))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Where vectors in the format `path`'s extension names may be written.
pub fn vectors_destination(path: &Path, force: bool) -> anyhow::Result<(Destination, Vectors)> {
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some("parquet") | Some("pq") => Vectors::Parquet,
        Some("fvecs") => Vectors::Fvecs,
        _ => anyhow::bail!("{}: unknown extension: write .parquet or .fvecs", path.display()),
    };
    let kind = match format {
        Vectors::Parquet => Written::VectorsParquet,
        Vectors::Fvecs => Written::Fvecs,
    };
    Ok((destination(path, kind, force, &[])?, format))
}

#[derive(Clone, Copy)]
pub enum Vectors {
    Parquet,
    Fvecs,
}

/// Writes `set` where [`vectors_destination`] said.
pub fn write_set((dest, format): &(Destination, Vectors), set: &lmdiskann::VectorSet) -> anyhow::Result<()> {
    let path = dest.path();
    dest.write(|w| match format {
        Vectors::Parquet => Ok(write_vectors_parquet_to(w, set, true)?),
        Vectors::Fvecs => write_fvecs_to(w, set).map_err(|e| lmdiskann::Error::Io { path: path.into(), what: "cannot write", source: e }),
    })
    .with_context(|| format!("{}: cannot write", path.display()))?;
    eprintln!("wrote {} ({} x {})", path.display(), set.len(), set.dims);
    Ok(())
}
