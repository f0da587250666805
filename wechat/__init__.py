"""WeChat Official Account (公众号) channel: a Rasa input channel built on wechatpy (channels layer)."""
