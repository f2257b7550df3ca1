"""What the API answers: one pydantic model per answer, as the OpenAPI document shows it.

The query objects (`projections.*View`) return JSON documents; these models declare
them. Routes whose answers leave out fields that do not apply (a run not started
yet, a fix not resolved yet) serialize with `response_model_exclude_unset`, so the
answer keeps exactly the fields the read model gave.
"""
