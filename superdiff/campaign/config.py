"""Campaign configuration: the pydantic models a design campaign is validated against.

A campaign (``config/config.yaml``, ``config/campaigns/*.yaml``) says *what* to sample, with which experts and
operators, and how to judge the designs. Threads, memory, partitions and GPUs are not here: they belong to the
Snakemake profiles. The same models export the JSON schema the Snakefile validates against
(``superdiff export-config-schema``), so the schema and this module cannot drift apart unnoticed.

Errors are reported as one line per problem: the key path, the offending value and what is allowed.
"""

from __future__ import annotations

import json
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from superdiff.molecules.sampling import DEFAULT_STEPS as MOLECULE_STEPS
from superdiff.proteins.sampling import DEFAULT_STEPS as PROTEIN_STEPS

#: a number that must be finite (YAML's .inf and .nan are refused)
Finite = Annotated[float, Field(allow_inf_nan=False)]

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
"""Names that become wildcards and folder names: lowercase letters, digits and underscores."""

SCHEMA_PATH = Path("workflow") / "schemas" / "config.schema.json"
"""Where the exported schema lives, relative to the repository root."""


class _Strict(BaseModel):
    """Base: unknown keys are errors (a typo must not silently fall back to a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SeedRange(_Strict):
    """Designs are numbered ``start .. start + count - 1``; a design's seed follows from its number and the campaign
    seed, whichever shard it runs in (so shard_size may change without changing any design)."""

    start: int = Field(0, ge=0, description="First design number.")
    count: int = Field(..., ge=1, description="Number of designs per method (and length).")
    shard_size: int = Field(..., ge=1, description="Designs per job; a shard is one parquet file.")

    def shards(self) -> list[tuple[int, int]]:
        """Half-open seed ranges ``[(first, stop), ...]`` covering ``start .. start+count``."""
        stop = self.start + self.count
        return [(s, min(s + self.shard_size, stop)) for s in range(self.start, stop, self.shard_size)]


class ProteinMethod(_Strict):
    """One way of combining the protein experts (a kappa rule of the engine)."""

    operator: Literal["single", "average", "or", "and", "product"] = Field(..., description="Kappa rule.")
    index: int | None = Field(None, ge=0, description="Which expert (0-based) for operator 'single'.")
    temperature: float | None = Field(
        None, ge=0, allow_inf_nan=False, description="OR temperature T (0: uniform weights, the average)."
    )
    bias: list[Finite] | None = Field(
        None, description="OR: per-expert log-weight bias (one per model); AND: one bias (or one per model)."
    )
    weights: list[Finite] | None = Field(
        None, description="product: exponent per expert, (1, 1) product of experts, (beta,) anneal, (1, -g) NOT."
    )
    resample: bool | None = Field(None, description="product: SMC resampling within each shard (default true).")
    curvature_every: int | None = Field(
        None, ge=1, description="and: compute the curvature term every k-th step and extrapolate it in between "
                                "(default 1: every step, exact; 8-12 cost <= 1.5x average, docs/engine.md)."
    )
    sharpen: float | None = Field(
        None, gt=0, allow_inf_nan=False,
        description="This method's sharpening w (default: the campaign's 'sharpen').")

    @model_validator(mode="after")
    def _fields_fit_operator(self) -> ProteinMethod:
        if self.operator == "single" and self.index is None:
            raise ValueError("operator 'single' needs 'index' (which expert, 0-based)")
        if self.operator != "single" and self.index is not None:
            raise ValueError(f"'index' is only allowed with operator 'single', not '{self.operator}'")
        if self.temperature is not None and self.operator != "or":
            raise ValueError(f"'temperature' is only allowed with operator 'or', not '{self.operator}'")
        if self.curvature_every is not None and self.operator != "and":
            raise ValueError(f"'curvature_every' is only allowed with operator 'and', not '{self.operator}'")
        if self.bias is not None and self.operator not in ("or", "and"):
            raise ValueError(f"'bias' is only allowed with operators 'or' and 'and', not '{self.operator}'")
        if (self.weights is not None or self.resample is not None) and self.operator != "product":
            raise ValueError(
                f"'weights' and 'resample' are only allowed with operator 'product', not '{self.operator}'"
            )
        if self.weights is not None and not any(w != 0 for w in self.weights):
            raise ValueError(f"'weights' = {self.weights}: every exponent is 0, expected at least one non-zero "
                             "exponent (the target is the product of the experts raised to them)")
        return self


class InverseFold(_Strict):
    enabled: bool = True
    sequences: int = Field(8, ge=1, description="ProteinMPNN sequences per backbone.")
    temperature: float = Field(0.1, gt=0, description="ProteinMPNN sampling temperature.")


class Refold(_Strict):
    """Refolding and designability (self-consistency: ProteinMPNN sequences refolded, scRMSD to the design)."""

    enabled: bool = False
    backend: Literal["esmfold"] = "esmfold"
    preset: Literal["superdiff", "genie2"] = Field(
        "superdiff",
        description="Designability protocol: 'superdiff' (min scRMSD < 2 Å) or 'genie2' (scRMSD <= 2 Å and "
        "pLDDT >= 70); ProteinMPNN settings come from inverse_fold.",
    )
    esmfold_weights: str | None = Field(
        None, description="Local folder of the verified facebook/esmfold_v1 weights (default: the HF cache)."
    )
    chunk_size: int = Field(64, ge=0, description="ESMFold trunk chunk size (0 = unchunked; smaller = less memory).")
    reason_off: str = Field(
        "ESMFold weights are downloaded at run time and this machine has no internet access, so designs are "
        "not refolded and designability (scRMSD) is not computed.",
        description="Shown in the report when refolding is off.",
    )


class Toggle(_Strict):
    enabled: bool = True


class Novelty(_Strict):
    enabled: bool = True
    reference: str = Field("builtin", description="Reference set: 'builtin' or a folder of PDB/mmCIF files.")


class ProteinEvaluation(_Strict):
    inverse_fold: InverseFold = InverseFold()
    refold: Refold = Refold()
    novelty: Novelty = Novelty()
    diversity: Toggle = Toggle()
    secondary_structure: Toggle = Toggle()


class Proteins(_Strict):
    """Backbone design: experts, operators, lengths and seeds."""

    enabled: bool = True
    models: list[str] = Field(
        ["builtin:helix", "builtin:strand"],
        min_length=1,
        description="Score models ('builtin:NAME' or 'module:factory').",
    )
    methods: dict[Annotated[str, Field(pattern=NAME_PATTERN)], ProteinMethod] = Field(..., min_length=1)
    lengths: list[Annotated[int, Field(ge=8, le=1000)]] = Field(..., min_length=1, description="Residues.")
    seeds: SeedRange
    steps: int = Field(PROTEIN_STEPS, ge=2, description="Reverse-SDE steps.")
    sharpen: float = Field(
        1.0, gt=0, allow_inf_nan=False,
        description="Sharpening w: the drift follows w x the composed score, a lower-temperature sampler (product: "
                    "its exponents x w); 1 samples the composition exactly. Log densities stay exact either way.")
    record_trajectories: bool = Field(
        True, description="Show the kappa and log-density paths (each method's first two designs at the shortest "
                          "length, kept by the sampling shards) in the report.")
    evaluation: ProteinEvaluation = ProteinEvaluation()

    @field_validator("lengths")
    @classmethod
    def _unique_lengths(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError(f"lengths must be distinct, got {v}")
        return v

    @field_validator("models")
    @classmethod
    def _models_resolve(cls, v: list[str]) -> list[str]:
        from superdiff.proteins.registry import check_spec

        for spec in v:
            check_spec(spec)  # without loading or downloading anything
        return v

    @model_validator(mode="after")
    def _methods_fit_models(self) -> Proteins:
        n = len(self.models)
        for name, m in self.methods.items():
            if m.index is not None and m.index >= n:
                raise ValueError(f"methods.{name}.index = {m.index}, but there are only {n} models (0..{n - 1})")
            if m.operator == "or" and m.bias is not None and len(m.bias) != n:
                raise ValueError(f"methods.{name}.bias has {len(m.bias)} values, expected one per model ({n})")
            if m.operator == "and" and m.bias is not None and len(m.bias) not in (1, n):
                raise ValueError(f"methods.{name}.bias has {len(m.bias)} values, expected 1 or one per model ({n})")
            if m.operator == "product" and m.weights is not None and len(m.weights) != n:
                raise ValueError(f"methods.{name}.weights has {len(m.weights)} values, expected one per model ({n})")
            if m.operator not in ("single", "product") and n < 2:
                raise ValueError(f"methods.{name}: operator '{m.operator}' needs at least 2 models, got {n}")
        return self


class MoleculeMethod(_Strict):
    """One composition of the property-conditioned scores ('joint' = one model conditioned on all labels)."""

    operator: Literal["single", "average", "or", "and", "joint", "product"] = Field(
        ..., description="Composition rule."
    )
    index: int | None = Field(None, ge=0, description="Which condition (0-based) for operator 'single'.")
    curvature_correction: bool = Field(True, description="AND: include the curvature (Laplacian) term.")
    curvature_every: int = Field(
        1, ge=1, description="AND: compute the curvature term every k-th step and extrapolate it in between "
                             "(1: every step, exact; docs/engine.md)."
    )
    and_target: Literal["density", "posterior", "typical"] | None = Field(
        None, description="AND: equal densities (the paper's), equal label posteriors, or equal typicality "
                          "(each density relative to its model's typical level); default: sample-molecules'."
    )
    exponents: list[Finite] | None = Field(
        None, description="product: exponent per condition (default all 1); exact guided product via SMC."
    )

    @model_validator(mode="after")
    def _fields_fit_operator(self) -> MoleculeMethod:
        if self.operator == "single" and self.index is None:
            raise ValueError("operator 'single' needs 'index' (which condition, 0-based)")
        if self.operator != "single" and self.index is not None:
            raise ValueError(f"'index' is only allowed with operator 'single', not '{self.operator}'")
        if self.and_target is not None and self.operator != "and":
            raise ValueError(f"'and_target' is only allowed with operator 'and', not '{self.operator}'")
        if self.curvature_every != 1 and self.operator != "and":
            raise ValueError(f"'curvature_every' is only allowed with operator 'and', not '{self.operator}'")
        if self.exponents is not None and self.operator != "product":
            raise ValueError(f"'exponents' is only allowed with operator 'product', not '{self.operator}'")
        return self


class Molecules(_Strict):
    """Conditional molecule generation: conditions, composition rules and seeds."""

    enabled: bool = True
    conditions: list[Literal["gsk3b", "jak2", "druglike"]] = Field(
        ["gsk3b", "druglike"], min_length=1, description="Property labels (superdiff.molecules.conditions.LABELS)."
    )
    methods: dict[Annotated[str, Field(pattern=NAME_PATTERN)], MoleculeMethod] = Field(..., min_length=1)
    seeds: SeedRange
    steps: int = Field(MOLECULE_STEPS, ge=2, description="Reverse-SDE steps.")
    guidance: float = Field(2.0, gt=0, allow_inf_nan=False,
                            description="Classifier-free guidance weight w > 0 (1 = no guidance).")
    fcd_reference: int = Field(2000, ge=0, description="MOSES test molecules for FCD (0 = skip FCD).")
    novelty: bool = Field(True, description="Compute novelty against the MOSES training set.")
    latent_model: str = Field("builtin", description="The generator: 'builtin' (SELFIES VAE + latent diffusion) or "
                                                     "'module:factory' returning a latent model (docs/molecules.md).")

    @field_validator("latent_model")
    @classmethod
    def _latent_model_resolves(cls, v: str) -> str:
        from superdiff.molecules.latent_model import check_latent_spec

        check_latent_spec(v)  # importable, with a callable factory; nothing is called or loaded
        return v

    @field_validator("conditions")
    @classmethod
    def _unique_conditions(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"conditions must be distinct, got {v}")
        return v

    @model_validator(mode="after")
    def _methods_fit_conditions(self) -> Molecules:
        n = len(self.conditions)
        for name, m in self.methods.items():
            if m.index is not None and m.index >= n:
                raise ValueError(f"methods.{name}.index = {m.index}, but there are only {n} conditions")
            if m.operator in ("average", "or", "and") and n < 2:
                raise ValueError(f"methods.{name}: operator '{m.operator}' needs at least 2 conditions, got {n}")
            if m.exponents is not None and len(m.exponents) != n:
                raise ValueError(f"methods.{name}.exponents has {len(m.exponents)} values, expected one per "
                                 f"condition ({n})")
        return self


class Report(_Strict):
    structure_pictures: int = Field(4, ge=0, le=64, description="Sample structures drawn per method.")
    title: str | None = None


class Campaign(_Strict):
    """A design campaign: everything that decides *what* is computed (not where or with how many cores)."""

    campaign: Annotated[str, Field(pattern=NAME_PATTERN, description="Results go to results/<campaign>/.")]
    description: str = ""
    device: str = Field("cpu", description="torch device for sampling and evaluation: 'cpu', 'cuda', 'cuda:1'.")
    seed: int = Field(
        0, ge=0,
        description="Base seed; a design's own seed follows from it and the design's number, whatever its shard.",
    )
    proteins: Proteins | None = None
    molecules: Molecules | None = None
    report: Report = Report()

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not re.fullmatch(r"cpu|cuda(:\d+)?|mps", v):
            raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {v!r}")
        return v

    @model_validator(mode="after")
    def _something_to_do(self) -> Campaign:
        p = self.proteins is not None and self.proteins.enabled
        m = self.molecules is not None and self.molecules.enabled
        if not (p or m):
            raise ValueError("nothing to do: enable 'proteins' or 'molecules'")
        return self


class CampaignError(ValueError):
    """A campaign config that does not validate; the message lists every problem, one per line."""


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-after"))]
    return ".".join(parts) or "<top level>"


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``; ``Annotated[X, ...]`` -> ``X``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _unwrap(args[0])
    if typing.get_origin(annotation) is Annotated:
        return _unwrap(args[0])
    return annotation


def _allowed_keys(loc: tuple[Any, ...]) -> list[str] | None:
    """Keys allowed in the mapping that holds ``loc[-1]``, found by walking the models from :class:`Campaign`."""
    node: Any = Campaign
    parts = [p for p in loc[:-1] if not (isinstance(p, str) and p.startswith("function-after"))]
    i = 0
    while i < len(parts):
        if not (isinstance(node, type) and issubclass(node, BaseModel)) or str(parts[i]) not in node.model_fields:
            return None
        node = _unwrap(node.model_fields[str(parts[i])].annotation)
        if typing.get_origin(node) is dict:  # the next part is a user-chosen key (e.g. a method name)
            node = _unwrap(typing.get_args(node)[1])
            i += 1
        i += 1
    if isinstance(node, type) and issubclass(node, BaseModel):
        return list(node.model_fields)
    return None


def format_errors(err: ValidationError) -> str:
    """One line per problem: ``key.path: got VALUE; what is allowed``."""
    lines = []
    for e in err.errors(include_url=False):
        loc = _format_loc(e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(tuple(e["loc"]))
            what = f"allowed keys here: {', '.join(allowed)}" if allowed else f"see {SCHEMA_PATH}"
            lines.append(f"{loc}: unknown key; {what}")
        elif e["type"] == "missing":
            lines.append(f"{loc}: required key is missing")
        else:
            lines.append(f"{loc}: got {json.dumps(e.get('input'), default=str)}; {msg}")
    return "\n".join(lines)


def load_campaign(data: dict[str, Any]) -> Campaign:
    """Validate a parsed config mapping; raise :class:`CampaignError` naming each bad key path."""
    try:
        return Campaign.model_validate(data)
    except ValidationError as err:
        n = err.error_count()
        raise CampaignError(f"invalid campaign config ({n} problem{'s' * (n > 1)}):\n{format_errors(err)}") from None


def read_yaml_strict(path: str | Path) -> Any:
    """Parse a YAML file, refusing duplicate keys (YAML would silently keep the later one) and reporting syntax
    errors (tabs, bad indentation) as one line with the file, line and column.

    Raises:
        CampaignError: the file cannot be parsed, or a mapping repeats a key.
    """
    import yaml

    class StrictLoader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node)
            if key in seen:
                raise CampaignError(f"{path}:{key_node.start_mark.line + 1}:{key_node.start_mark.column + 1}: "
                                    f"duplicate key {key!r} (first at line {seen[key]}); expected each key once")
            seen[key] = key_node.start_mark.line + 1
        return loader.construct_mapping(node)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        with open(path) as fh:
            return yaml.load(fh, Loader=StrictLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        raise CampaignError(f"{where}: not valid YAML ({err.problem}); expected spaces, not tabs, for "
                            "indentation and 'key: value' pairs") from None


def read_campaign(path: str | Path) -> Campaign:
    """Read and validate a YAML campaign file."""
    data = read_yaml_strict(path)
    if not isinstance(data, dict):
        raise CampaignError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return load_campaign(data)


def resolved(campaign: Campaign) -> dict[str, Any]:
    """The campaign with every default filled in, as plain JSON types (unset optional keys left out)."""
    return campaign.model_dump(mode="json", exclude_none=True)


def json_schema() -> dict[str, Any]:
    """The JSON schema (draft 2020-12) of a campaign config, as the Snakefile validates it."""
    schema = Campaign.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["description"] = (
        "superdiff design campaign. Generated by `superdiff export-config-schema` from superdiff/campaign/config.py; "
        "do not edit by hand."
    )
    return schema
