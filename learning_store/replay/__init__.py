"""Replay a team's eval set through the advice: RouteLLM's protocol, APGR and CPT.

`protocol` reads the responses files and splits them, `routers` scores the test questions
(our advice through a real store, and the plain baselines beside it), `curves` turns
scores into accuracy against the share of strong calls, `run` ties them together for
`learning-store replay`.
"""
