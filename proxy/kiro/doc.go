// Package kiro is the client of the Kiro backend: it maps client model names
// to Kiro model ids ([MapModel]), turns a neutral [conv.Request] into a
// generateAssistantResponse body that the strict backend accepts
// ([BuildRequest]), sends it with the Kiro IDE's headers, retries and fails
// over between accounts before anything reaches the client ([Client.Send]),
// and decodes the answering AWS event stream into [Event] values ([Stream]).
// A prompt over the upstream's input limit is refused with a [TooLongError]
// before it is sent, or trimmed to fit when [Config.TrimHistory] is set; a
// request for a web search runs Kiro's own search instead of a model call
// ([WebSearchResults]). It also reads quotas ([Client.UsageLimits]) and the
// model catalogue ([Client.ListModels]).
//
// It knows nothing about the Anthropic or OpenAI wire formats (the front ends
// translate into conv and out of Event), and nothing about how accounts are
// stored or refreshed (the [Accounts] and [Account] interfaces are implemented
// by app/). The frame layer lives in the eventstream sub-package.
package kiro
