package openai

import (
	"fmt"
	"net/http"

	"github.com/kirotray/kirotray/proxy/anthropic"
	"github.com/kirotray/kirotray/proxy/apierr"
	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/relay"
	"github.com/kirotray/kirotray/proxy/stream"
)

// Handler serves the OpenAI endpoints. Fill in Relay; every other field has
// a working zero value. Its methods are safe for concurrent use.
type Handler struct {
	Relay *relay.Relay
	// Store keeps responses for previous_response_id; nil means a store of
	// the default size owned by the handler.
	Store *Store
	// ModelList is what /v1/models lists; nil means anthropic.DefaultModels.
	ModelList []anthropic.ModelInfo

	store Store // used when Store is nil
}

func (h *Handler) responseStore() *Store {
	if h.Store != nil {
		return h.Store
	}
	return &h.store
}

// ChatCompletions serves POST /v1/chat/completions.
func (h *Handler) ChatCompletions(w http.ResponseWriter, r *http.Request) {
	c := h.Relay.NewCall(r, "openai-chat", "chatcmpl-")
	w.Header().Set("X-Request-Id", c.ID)
	h.Relay.Finish(w, r, c, h.chat(w, r, c), WriteError)
}

func (h *Handler) chat(w http.ResponseWriter, r *http.Request, c *relay.Call) error {
	release, err := h.Relay.Acquire(r.Context())
	if err != nil {
		return err
	}
	req, cr, err := prepareChat(r, c)
	if err == nil {
		err = h.Relay.Send(r.Context(), c, cr, anthropic.TranslatorOptions{Model: c.Model, Thinking: thinkingOn(cr),
			MaxTokens: cr.MaxTokens, StopSequences: cr.StopSequences})
	}
	release() // the body is no longer needed: the next request may start
	if err != nil {
		return err
	}
	a := chatAnswer{ID: c.ID, Created: c.Start.Unix(), Model: c.Model}
	if c.Stream {
		includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
		return h.Relay.Stream(w, c, "text/event-stream", NewChatStream(a, includeUsage))
	}
	var acc anthropic.Accumulator
	if err := h.Relay.Collect(c, func(evs []anthropic.Event) {
		for i := range evs {
			acc.Add(&evs[i])
		}
	}); err != nil {
		return err
	}
	_, jsonMode := req.ResponseFormat.json()
	c.Commit(http.StatusOK)
	writeJSON(w, http.StatusOK, AppendChatCompletion(make([]byte, 0, 1024), a, acc.Message(), jsonMode))
	return nil
}

func prepareChat(r *http.Request, c *relay.Call) (*ChatRequest, *conv.Request, error) {
	body, err := relay.ReadBody(r)
	if err != nil {
		return nil, nil, err
	}
	req, err := ParseChatRequest(body)
	if err != nil {
		return nil, nil, err
	}
	c.Model, c.Stream = req.Model, req.Stream
	return req, req.ToConv(), nil
}

// Responses serves POST /v1/responses.
func (h *Handler) Responses(w http.ResponseWriter, r *http.Request) {
	c := h.Relay.NewCall(r, "openai-responses", "resp_")
	w.Header().Set("X-Request-Id", c.ID)
	h.Relay.Finish(w, r, c, h.responses(w, r, c), WriteError)
}

func (h *Handler) responses(w http.ResponseWriter, r *http.Request, c *relay.Call) error {
	release, err := h.Relay.Acquire(r.Context())
	if err != nil {
		return err
	}
	req, rc, err := h.prepareResponses(r, c)
	var enc *ResponseEncoder
	if err == nil {
		enc = newResponseEncoder(responseMeta{
			ID: c.ID, Created: c.Start.Unix(), Model: c.Model, Instructions: req.Instructions,
			PreviousResponseID: req.PreviousResponseID, MaxOutputTokens: rc.req.MaxTokens,
			Effort: req.effort(), Summary: req.summary(), ParallelToolCalls: req.ParallelToolCalls == nil || *req.ParallelToolCalls,
			Store: req.Store == nil || *req.Store, JSON: rc.json,
		}, rc.tools, c.Stream)
		err = h.Relay.Send(r.Context(), c, rc.req, anthropic.TranslatorOptions{Model: c.Model, Thinking: thinkingOn(rc.req),
			MaxTokens: rc.req.MaxTokens})
		if err != nil && c.Stream && failsInStream(apierr.Classify(err)) {
			release()
			return h.failStream(w, c, enc, err)
		}
	}
	release()
	if err != nil {
		return err
	}
	if c.Stream {
		err = h.Relay.Stream(w, c, "text/event-stream", enc)
	} else {
		err = h.Relay.Collect(c, func(evs []anthropic.Event) { enc.Encode(nil, evs) })
		if err == nil {
			c.Commit(http.StatusOK)
			writeJSON(w, http.StatusOK, enc.Body(make([]byte, 0, 1024)))
		}
	}
	if err == nil && enc.meta.Store && enc.Status() != "failed" {
		history := rc.req.Messages
		h.responseStore().Put(c.ID, append(history[:len(history):len(history)], enc.Output()...))
	}
	return err
}

func (h *Handler) prepareResponses(r *http.Request, c *relay.Call) (*ResponsesRequest, *responsesConv, error) {
	body, err := relay.ReadBody(r)
	if err != nil {
		return nil, nil, err
	}
	req, err := ParseResponsesRequest(body)
	if err != nil {
		return nil, nil, err
	}
	c.Model, c.Stream = req.Model, req.Stream
	var history []conv.Message
	if id := req.PreviousResponseID; id != "" {
		var ok bool
		if history, ok = h.responseStore().Get(id); !ok {
			return nil, nil, &apierr.Failure{Status: http.StatusNotFound, Type: apierr.InvalidRequest,
				Code: "previous_response_not_found", Param: "previous_response_id",
				Message: fmt.Sprintf("Previous response with id '%s' not found.", id)}
		}
	}
	return req, req.toConv(history), nil
}

func (r *ResponsesRequest) summary() string {
	if r.Reasoning == nil || r.Reasoning.Summary == nil {
		return ""
	}
	return *r.Reasoning.Summary
}

// failsInStream reports whether a failure to start a streamed response is
// sent as response.failed rather than as an HTTP error: the failures Codex
// acts on from there (it compacts on context_length_exceeded, stops on
// insufficient_quota) or retries (rate limits, overload). Invalid requests
// and refused credentials stay HTTP errors, which Codex shows at once.
func failsInStream(f *apierr.Failure) bool {
	switch f.Code {
	case apierr.CodeContextLength, apierr.CodeQuota, apierr.CodeRateLimit, apierr.CodeOverloaded:
		return true
	}
	return f.Status >= 500
}

// failStream answers a streamed request whose upstream call failed with
// response.created and response.failed.
func (h *Handler) failStream(w http.ResponseWriter, c *relay.Call, enc *ResponseEncoder, err error) error {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	c.Commit(http.StatusOK)
	if _, werr := w.Write(enc.Fail(nil, apierr.Classify(err))); werr != nil {
		return fmt.Errorf("%w: write: %w", stream.ErrClientGone, werr)
	}
	return relay.MarkStreamed(err)
}

// Models serves GET /v1/models in OpenAI's shape.
func (h *Handler) Models(w http.ResponseWriter, _ *http.Request) {
	models := h.ModelList
	if models == nil {
		models = anthropic.DefaultModels
	}
	writeJSON(w, http.StatusOK, AppendModelList(nil, models))
}

// AppendModelList appends OpenAI's model list:
// {"object":"list","data":[{"id","object":"model","created","owned_by"}]}.
func AppendModelList(dst []byte, models []anthropic.ModelInfo) []byte {
	dst = append(dst, `{"object":"list","data":[`...)
	for i, m := range models {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":`...)
		dst = relay.AppendString(dst, m.ID)
		dst = append(dst, `,"object":"model","created":`...)
		dst = relay.AppendInt(dst, int(m.CreatedAt.Unix()))
		dst = append(dst, `,"owned_by":"anthropic"}`...)
	}
	return append(dst, "]}"...)
}
