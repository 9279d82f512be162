//! The block planner: picks the block size and max degree from dims, element type and
//! code kind, and refuses layouts that cannot give good recall.

use super::header::{Header, BLOCK_ALIGN};
use super::node::NodeLayout;
use crate::error::{Error, Result};
use crate::quant::CodeKind;
use crate::vector::ElementType;

/// Fewer edges than this per node gave ~0% recall in libSQL-derived indexes; refuse them.
pub const MIN_EDGES: usize = 16;
/// The default layout's block is the smallest that holds `DEFAULT_MIN_DEGREE` edges,
/// filled with as many edges as fit, up to this.
pub const DEFAULT_MAX_DEGREE: usize = 64;
/// Edges the default layout holds at least (the README's table of measurements).
pub const DEFAULT_MIN_DEGREE: usize = 32;
const MIN_BLOCK: usize = 512;
const MAX_BLOCK: usize = 1 << 24;
/// The degree field is a u16; more than this is never useful for a Vamana graph anyway.
const MAX_DEGREE_LIMIT: usize = 1024;

/// What the caller asks for; `None` means "choose for me".
#[derive(Clone, Copy, Debug)]
pub struct PlanRequest {
    pub dims: usize,
    pub element_type: ElementType,
    pub code_kind: CodeKind,
    pub max_degree: Option<usize>,
    pub block_size: Option<usize>,
}

/// The chosen geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub block_size: usize,
    pub max_degree: usize,
    pub layout: NodeLayout,
}

/// The code kind a build of `dims`-dim vectors uses unless told: the most precise of
/// 4-bit, 2-bit and 1-bit codes whose default block (f32 vectors) is still one page, so a
/// hop stays one read; 1-bit when none is (from 461 dims).
///
/// Precision is what a search beyond memory pays for in reads: on 1M x 128 rows 4-bit
/// codes (4 KiB blocks, R 46) reach recall@10 0.95 expanding 20 blocks a query where 2-bit
/// codes (2 KiB, R 34) expand 88, for a file twice the size.
pub fn default_code_kind(dims: usize) -> CodeKind {
    let one_page = |code_kind| {
        let req = PlanRequest { dims, element_type: ElementType::F32, code_kind, max_degree: None, block_size: None };
        page_block(block_for(&req, DEFAULT_MIN_DEGREE)) <= PAGE
    };
    [CodeKind::FourBit, CodeKind::TwoBit, CodeKind::OneBit].into_iter().find(|&k| one_page(k)).unwrap_or(CodeKind::OneBit)
}

fn layout(req: &PlanRequest, block_size: usize, degree: usize) -> NodeLayout {
    NodeLayout::new(block_size, req.dims, req.element_type.size(), degree, req.code_kind.code_len(req.dims))
}

/// Smallest block (a multiple of `BLOCK_ALIGN`) that holds the header and a node of
/// `degree` edges.
fn block_for(req: &PlanRequest, degree: usize) -> usize {
    let need = layout(req, 0, degree).used_len().max(Header::len_for(req.dims));
    need.next_multiple_of(BLOCK_ALIGN as usize).max(MIN_BLOCK)
}

/// Bytes of a memory page, the unit the page cache and a disk read deal in.
pub const PAGE: usize = 4096;

/// The smallest block of at least `need` bytes that never straddles a page: a power of
/// two up to a page, whole pages beyond. One hop of a search is then one page read, where
/// a 3584-byte block spans two pages seven times in eight (a 25k x 384 index, 25% of it
/// in the page cache: 39 pages read per query through 3584-byte blocks, 25 through 4096).
fn page_block(need: usize) -> usize {
    if need <= PAGE {
        need.next_power_of_two()
    } else {
        need.next_multiple_of(PAGE)
    }
}

/// Most edges a block of `block_size` bytes holds (0 when not even the vector fits).
fn degree_for(req: &PlanRequest, block_size: usize) -> usize {
    let fixed = layout(req, block_size, 0).used_len();
    let edge = 4 + req.code_kind.code_len(req.dims);
    block_size.saturating_sub(fixed) / edge
}

/// Chooses the layout, or says which knob to turn.
pub fn plan(req: &PlanRequest) -> Result<Plan> {
    if req.dims == 0 {
        return Err(Error::InvalidParameter("vectors have 0 dimensions".into()));
    }
    if let Some(bs) = req.block_size {
        if bs % BLOCK_ALIGN as usize != 0 || !(MIN_BLOCK..=MAX_BLOCK).contains(&bs) {
            return Err(Error::InvalidParameter(format!(
                "--block-size {bs} must be a multiple of {BLOCK_ALIGN} from {MIN_BLOCK} to {MAX_BLOCK}"
            )));
        }
    }
    let (block_size, max_degree) = match (req.max_degree, req.block_size) {
        (Some(r), _) if !(MIN_EDGES..=MAX_DEGREE_LIMIT).contains(&r) => {
            return Err(Error::InvalidParameter(format!(
                "--max-degree {r} is out of range: use {MIN_EDGES} to {MAX_DEGREE_LIMIT} (fewer than {MIN_EDGES} edges per node give near-zero recall)"
            )));
        }
        (Some(r), None) => (page_block(block_for(req, r)), r),
        (Some(r), Some(bs)) => {
            if degree_for(req, bs) < r || Header::len_for(req.dims) > bs {
                return Err(Error::InvalidParameter(format!(
                    "a {bs}-byte block holds at most {} edges of {}-dim vectors, not {r}: raise --block-size to {} or lower --max-degree",
                    degree_for(req, bs),
                    req.dims,
                    block_for(req, r)
                )));
            }
            (bs, r)
        }
        (None, Some(bs)) => {
            let fit = degree_for(req, bs).min(MAX_DEGREE_LIMIT);
            if fit < MIN_EDGES || Header::len_for(req.dims) > bs {
                return Err(Error::InvalidParameter(format!(
                    "a {bs}-byte block holds only {fit} edges of {}-dim vectors with {} codes; fewer than {MIN_EDGES} give near-zero recall: raise --block-size to at least {}",
                    req.dims,
                    req.code_kind.name(),
                    block_for(req, MIN_EDGES)
                )));
            }
            (bs, fit)
        }
        (None, None) => {
            let bs = page_block(block_for(req, DEFAULT_MIN_DEGREE));
            (bs, degree_for(req, bs).min(DEFAULT_MAX_DEGREE))
        }
    };
    if block_size > MAX_BLOCK {
        return Err(Error::InvalidParameter(format!(
            "{}-dim vectors need {block_size}-byte blocks, above the {MAX_BLOCK}-byte limit: lower --max-degree or reduce the dimension",
            req.dims
        )));
    }
    Ok(Plan { block_size, max_degree, layout: layout(req, block_size, max_degree) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(dims: usize) -> PlanRequest {
        PlanRequest { dims, element_type: ElementType::F32, code_kind: CodeKind::OneBit, max_degree: None, block_size: None }
    }

    #[test]
    fn default_plans_fit_and_hold_at_least_the_default_degree() {
        for dims in [1, 2, 3, 8, 96, 100, 128, 384, 768, 784, 1024, 1536, 4096] {
            let p = plan(&req(dims)).unwrap();
            assert!(p.block_size.is_multiple_of(512) && p.block_size >= 512, "dims {dims}");
            assert!(p.layout.used_len() <= p.block_size, "dims {dims}");
            assert!(Header::len_for(dims) <= p.block_size, "dims {dims}");
            assert!((DEFAULT_MIN_DEGREE..=DEFAULT_MAX_DEGREE).contains(&p.max_degree), "dims {dims}: {p:?}");
            // The block is the smallest page-friendly one that holds the guaranteed degree.
            assert_eq!(p.block_size, page_block(p.block_size), "dims {dims}");
            if let Some(smaller) = smaller_page_block(p.block_size) {
                assert!(degree_for(&req(dims), smaller) < DEFAULT_MIN_DEGREE || Header::len_for(dims) > smaller, "dims {dims}");
            }
        }
    }

    #[test]
    fn default_codes_are_the_most_precise_whose_block_is_one_page() {
        let kinds = [CodeKind::FourBit, CodeKind::TwoBit, CodeKind::OneBit];
        for (dims, kind, block) in [
            (64, CodeKind::FourBit, 2048),
            (128, CodeKind::FourBit, 4096),
            (200, CodeKind::TwoBit, 4096),
            (300, CodeKind::TwoBit, 4096),
            (384, CodeKind::OneBit, 4096),
            (1536, CodeKind::OneBit, 16384),
        ] {
            assert_eq!(default_code_kind(dims), kind, "dims {dims}");
            let p = plan(&PlanRequest { code_kind: kind, ..req(dims) }).unwrap();
            assert_eq!(p.block_size, block, "dims {dims}");
            // Every more precise kind would need more than a page for the default degree.
            for finer in kinds.iter().take_while(|&&k| k != kind) {
                let p = plan(&PlanRequest { code_kind: *finer, ..req(dims) }).unwrap();
                assert!(p.block_size > PAGE, "dims {dims}: {} fits {p:?}", finer.name());
            }
        }
    }

    #[test]
    fn every_type_and_kind_gets_the_smallest_sound_block() {
        for element_type in ElementType::ALL {
            for code_kind in CodeKind::ALL {
                for dims in [3, 100, 128, 384, 784, 1536] {
                    let req = PlanRequest { element_type, code_kind, ..req(dims) };
                    let what = format!("{} {} dims {dims}", element_type.name(), code_kind.name());
                    for degree in [MIN_EDGES, 24, 64] {
                        let p = plan(&PlanRequest { max_degree: Some(degree), ..req }).unwrap();
                        assert_eq!(p.max_degree, degree, "{what}");
                        assert!(p.layout.used_len() <= p.block_size && Header::len_for(dims) <= p.block_size, "{what}");
                        // The next smaller block that never straddles a page would not hold it.
                        assert_eq!(p.block_size, page_block(p.block_size), "{what} R {degree}");
                        if let Some(smaller) = smaller_page_block(p.block_size) {
                            assert!(degree_for(&req, smaller) < degree || Header::len_for(dims) > smaller, "{what} R {degree}");
                        }
                    }
                    let p = plan(&req).unwrap();
                    assert!(p.max_degree >= DEFAULT_MIN_DEGREE && p.max_degree <= DEFAULT_MAX_DEGREE, "{what}: {p:?}");
                }
            }
        }
    }

    /// The largest page-friendly block below `block` (None below 1 KiB).
    fn smaller_page_block(block: usize) -> Option<usize> {
        if block <= MIN_BLOCK {
            None
        } else if block <= PAGE {
            Some(block / 2)
        } else {
            Some(block - PAGE)
        }
    }

    #[test]
    fn blocks_never_straddle_a_page() {
        for need in (512..40_000).step_by(512) {
            let b = page_block(need);
            assert!(b >= need && (PAGE.is_multiple_of(b) || b.is_multiple_of(PAGE)), "{need} -> {b}");
            assert!(smaller_page_block(b).is_none_or(|s| s < need), "{need} -> {b}");
        }
    }

    #[test]
    fn explicit_degree_gets_the_smallest_page_block_that_fits() {
        let p = plan(&PlanRequest { max_degree: Some(100), ..req(128) }).unwrap();
        assert_eq!(p.max_degree, 100);
        assert!(p.layout.used_len() <= p.block_size);
        assert!(layout(&req(128), 0, 100).used_len() > smaller_page_block(p.block_size).unwrap());
    }

    #[test]
    fn layouts_with_fewer_than_16_edges_are_refused_naming_the_knob() {
        let e = plan(&PlanRequest { block_size: Some(4096), ..req(1024) }).unwrap_err().to_string();
        assert!(e.contains("--block-size") && e.contains("16"), "{e}");
        let e = plan(&PlanRequest { max_degree: Some(8), ..req(128) }).unwrap_err().to_string();
        assert!(e.contains("--max-degree"), "{e}");
        let e = plan(&PlanRequest { max_degree: Some(64), block_size: Some(1024), ..req(128) }).unwrap_err().to_string();
        assert!(e.contains("raise --block-size"), "{e}");
    }

    #[test]
    fn given_block_size_gets_the_largest_degree() {
        let p = plan(&PlanRequest { block_size: Some(8192), ..req(128) }).unwrap();
        assert!(p.layout.used_len() <= 8192);
        assert!(layout(&req(128), 8192, p.max_degree + 1).used_len() > 8192);
    }
}
