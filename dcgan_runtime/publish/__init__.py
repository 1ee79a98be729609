"""Publishing: an export folder to the Hugging Face Hub (`push`), or as a static site whose visitors run the
model in their browser (`site`, with its page in `site_page/`). Fetching a published model is the engine's
(`dcgan_runtime.engine.fetch`)."""
