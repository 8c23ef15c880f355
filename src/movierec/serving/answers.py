"""What the service answers, as pydantic models: the published contract (``/docs.json``).

The APIs build their JSON bytes themselves (orjson, cached bodies), so these models describe the answers
rather than build them; the schemathesis run in the test suite holds the running service to them. Every model
forbids fields it does not list, so a field added to an answer without its model shows up as a violation.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Versioned(Answer):
    model_version: str = Field(description="the served model: `two_tower-<md5 of its checkpoint>`")


class Movie(Answer):
    movie_id: int
    title: str
    genres: list[str]
    year: int | None
    score: float | None = Field(None, description="the model's score; for popular movies their ratings, for trending "
                                "ones their ratings in the latest weeks")
    explanation: str | None = Field(None, description="why this movie, from the profile's own ratings")
    explanation_source: Literal["llm", "template"] | None = Field(None, description="where the explanation came from")
    explanation_ms: float | None = Field(None, description="how long the explanation took (milliseconds)")
    explanation_key: str | None = Field(None, description="a model's text is being written: ask /explanation for it")


class Journey(Answer):
    stage: Literal["new", "learning", "personal", "rich"]
    label: str
    n_ratings: int = Field(ge=0)
    strength: float = Field(ge=0, le=1, description="how far the profile is from a rich one, 0..1")


class Items(Versioned):
    items: list[Movie]


class Recommendations(Items):
    cached: bool = Field(description="served from the cache")
    source: Literal["two_tower", "two_tower+ranker", "two_tower+trending", "trending", "popular"]
    journey: Journey
    explain: bool | None = Field(None, description="whether the items are explained")
    label: str | None = None


class ForUser(Recommendations):
    user_id: int


class ForSession(Recommendations):
    session_id: str
    n_ratings: int
    advice: str | None


class Profile(Answer):
    key: str
    name: str
    user_id: int
    n_ratings: int
    description: str


class ForProfile(ForUser):
    profile: Profile


class Profiles(Versioned):
    profiles: list[Profile]


class Similar(Items):
    movie: Movie


class Found(Items):
    query: str


class Onboarding(Items):
    advice: str


class Version(Versioned):
    pass


class Ping(Answer):
    ok: bool


class Explanation(Answer):
    key: str
    status: Literal["written", "template", "pending"] = Field(
        description="written: `explanation` is the model's; template: the model's text was not usable, keep the "
                    "template; pending: not written yet, ask again")  # fmt: skip
    explanation: str | None


class ExplanationReport(Answer):
    provider: Literal["template", "local", "openai"]
    model: str
    day: str = Field(description="UTC date the figures are for")
    generated: int
    cache_hits: int
    cache_misses: int
    hit_rate: float | None
    fallbacks: dict[str, int] = Field(description="template used instead, by reason: timeout, provider_error, rejected, busy")
    rejected: dict[str, int] = Field(description="texts the grounding guard refused, by reason")
    mean_latency_ms: float | None
    p95_latency_ms: float | None
    tokens_in: int
    tokens_out: int
    spend: float = Field(description="today's cost, at the configured price per 1,000 tokens")
    projected_monthly_cost: float


class Error(BaseModel):
    """Every refused request, whoever refuses it: ``error`` says what to do; ``detail`` lists the fields that
    failed validation, when that was the reason."""

    error: str
    detail: list[dict] | None = None
