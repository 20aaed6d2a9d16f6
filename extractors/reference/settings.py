"""What a reference fit is told: the model's version and its fit settings (recorded in every artifact's manifest)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from harness.contracts import DEFAULT_CODE_SET_YEAR

VERSION = "reference@2"
"""Version of the model's features and sources; an artifact of another version cannot be scored and is refused."""


class ReferenceSettings(BaseModel):
    """What ``extractors.reference.fit`` fits; recorded in the artifact's manifest."""

    model_config = ConfigDict(extra="forbid")

    folds: int = Field(default=5, ge=2)
    """Cross-fitting folds: the re-ranker's training features are out of fold."""
    seed: int = 0
    """Seed of the fold split and of every learned part."""
    max_term_words: int = Field(default=10, ge=1)
    """Longest lexicon term, in words."""
    use_compounds: bool = True
    """Learn discontinuous evidence mentions ("hígado ... esteatosis") as compound terms."""
    compound_window: int = Field(default=25, ge=1)
    """Most words from a compound's first part to its last."""
    icd_term_languages: list[str] = Field(default_factory=lambda: ["en"])
    """Chart languages whose lexicon also holds ICD-10-CM terms (they are English)."""
    cie_term_languages: list[str] = Field(default_factory=lambda: ["es"])
    """Chart languages whose lexicon also holds the Spanish ICD-10 titles (``extractors.reference.cie10_titles``)."""
    code_set_year: int = DEFAULT_CODE_SET_YEAR
    """ICD-10-CM fiscal year of the ICD terms (and the code set the artifact declares)."""
    induce_terms: bool = True
    """Induce phrases from document-level co-occurrence when the training charts carry no evidence spans."""
    induce_max_words: int = Field(default=3, ge=1)
    """Longest induced phrase, in words."""
    induce_min_charts: int = Field(default=3, ge=1)
    """Fewest training charts holding both an induced phrase and its code."""
    induce_min_precision: float = Field(default=0.5, ge=0.0, le=1.0)
    """Least share of an induced phrase's charts that hold its code."""
    term_prior: float = Field(default=0.3, ge=0.0, le=1.0)
    """Prior document-level precision of a term (smooths terms seen in few charts)."""
    term_prior_weight: float = Field(default=1.0, gt=0.0)
    """Pseudo-charts of the prior in a term's smoothed precision."""
    use_retrieval: bool = True
    """Propose the codes of the nearest training span of each chart phrase."""
    retrieval_max_words: int = Field(default=6, ge=1)
    """Longest chart phrase sent to retrieval, in words."""
    retrieval_min_similarity: float = Field(default=0.6, ge=0.0, le=1.0)
    """Least cosine similarity for a neighbour to propose its codes."""
    use_classifier: bool = True
    """Score codes from the whole chart with one-vs-rest logistic regression."""
    classifier_min_charts: int = Field(default=3, ge=1)
    """Codes with fewer training charts get no classifier."""
    classifier_c: float = Field(default=10.0, gt=0.0)
    """Inverse regularisation strength of each logistic regression."""
    classifier_min_probability: float = Field(default=0.2, ge=0.0, le=1.0)
    """A code the classifier alone proposes needs at least this probability to become a candidate."""
    use_reranker: bool = True
    """Score candidates with the learned re-ranker (else: the best source estimate)."""
    reranker_iterations: int = Field(default=200, ge=1)
    """Boosting iterations of the re-ranker."""
    reranker_learning_rate: float = Field(default=0.1, gt=0.0)
    """Learning rate of the re-ranker."""
    reranker_leaves: int = Field(default=31, ge=2)
    """Most leaves per tree of the re-ranker."""
    reranker_members: int = Field(default=5, ge=1)
    """Re-rankers averaged (seeds ``seed`` onwards): averaging evens out the trees' random feature choices."""
    reranker_max_features: float = Field(default=0.7, gt=0.0, le=1.0)
    """Share of the features each tree split may choose from (1.0: all of them)."""
    assertion_scope: int = Field(default=8, ge=0)
    """Most words between an assertion cue and the mention it modifies (``extractors.dictionary.assertion``)."""
    min_confidence: float = Field(default=0.02, ge=0.0, le=1.0)
    """Candidates scored below this are not reported (the rule pack sets the operating threshold)."""
