package gemini

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/kirotray/kirotray/proxy/anthropic"
	"github.com/kirotray/kirotray/proxy/apierr"
	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/kiro"
	"github.com/kirotray/kirotray/proxy/relay"
)

// Handler serves the Gemini endpoints. Fill in Relay; every other field has
// a working zero value. Its methods are safe for concurrent use.
type Handler struct {
	Relay *relay.Relay
	// MapModel maps a Gemini model name to the Claude model serving it; nil
	// means ClaudeModel.
	MapModel func(name string) string
	// ModelList is what /v1beta/models lists; nil means DefaultModels.
	ModelList []ListedModel
}

func (h *Handler) claude(name string) string {
	if h.MapModel != nil {
		return h.MapModel(name)
	}
	return ClaudeModel(name)
}

// Methods of a model, the part of the path after the colon.
const (
	methodGenerate    = "generateContent"
	methodStream      = "streamGenerateContent"
	methodCountTokens = "countTokens"
)

// ModelAction serves POST /v1beta/models/{model}:{method} for the methods
// generateContent, streamGenerateContent and countTokens.
func (h *Handler) ModelAction(w http.ResponseWriter, r *http.Request) {
	action := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	i := strings.LastIndexByte(action, ':')
	if i <= 0 {
		WriteError(w, &apierr.Failure{Status: http.StatusNotFound, Message: "expected models/{model}:{method} in the path"})
		return
	}
	model, method := action[:i], action[i+1:]
	switch method {
	case methodGenerate, methodStream:
		c := h.Relay.NewCall(r, "gemini", "")
		c.Model, c.Stream = model, method == methodStream
		h.Relay.Finish(w, r, c, h.generate(w, r, c), WriteError)
	case methodCountTokens:
		if err := h.countTokens(w, r, model); err != nil {
			WriteError(w, apierr.Classify(err))
		}
	default:
		WriteError(w, &apierr.Failure{Status: http.StatusNotFound,
			Message: "method " + method + " is not supported: use generateContent, streamGenerateContent or countTokens"})
	}
}

func (h *Handler) generate(w http.ResponseWriter, r *http.Request, c *relay.Call) error {
	release, err := h.Relay.Acquire(r.Context())
	if err != nil {
		return err
	}
	var opts Options
	body, err := relay.ReadBody(r)
	if err == nil {
		var req *Request
		if req, err = ParseRequest(body); err == nil {
			claude := h.claude(c.Model)
			var cr *conv.Request
			cr, opts = req.ToConv(claude)
			err = h.Relay.Send(r.Context(), c, cr, anthropic.TranslatorOptions{Model: c.Model,
				Thinking:  opts.Thinking || kiro.MapModel(claude).Thinking,
				MaxTokens: cr.MaxTokens, StopSequences: cr.StopSequences})
		}
	}
	release()
	if err != nil {
		return err
	}
	a := answer{ResponseID: c.ID, Model: c.Model, Options: opts}
	if c.Stream {
		sse := r.URL.Query().Get("alt") == "sse"
		contentType := "application/json; charset=UTF-8"
		if sse {
			contentType = "text/event-stream"
		}
		return h.Relay.Stream(w, c, contentType, newStream(a, sse))
	}
	var acc anthropic.Accumulator
	if err := h.Relay.Collect(c, func(evs []anthropic.Event) {
		for i := range evs {
			acc.Add(&evs[i])
		}
	}); err != nil {
		return err
	}
	c.Commit(http.StatusOK)
	writeJSON(w, http.StatusOK, appendGenerateContent(make([]byte, 0, 1024), &a, acc.Message()))
	return nil
}

// countTokens answers with the estimate the usage of the same request would
// start from. The body is a generateContent body, or one wrapped in
// generateContentRequest.
func (h *Handler) countTokens(w http.ResponseWriter, r *http.Request, model string) error {
	body, err := relay.ReadBody(r)
	if err != nil {
		return err
	}
	var wrapped struct {
		GenerateContentRequest json.RawMessage `json:"generateContentRequest"`
	}
	if json.Unmarshal(body, &wrapped) == nil && len(bytes.TrimSpace(wrapped.GenerateContentRequest)) > 0 {
		body = wrapped.GenerateContentRequest
	}
	req, err := ParseRequest(body)
	if err != nil {
		return err
	}
	cr, _ := req.ToConv(h.claude(model))
	b := append([]byte(`{"totalTokens":`), relay.AppendInt(nil, conv.EstimateTokens(cr))...)
	writeJSON(w, http.StatusOK, append(b, '}'))
	return nil
}

// Models serves GET /v1beta/models, all on one page.
func (h *Handler) Models(w http.ResponseWriter, _ *http.Request) {
	b := []byte(`{"models":[`)
	for i, m := range h.modelList() {
		if i > 0 {
			b = append(b, ',')
		}
		b = h.appendModel(b, m)
	}
	writeJSON(w, http.StatusOK, append(b, "]}"...))
}

// Model serves GET /v1beta/models/{model}. Every name is served, so every
// name is found.
func (h *Handler) Model(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	m := ListedModel{Name: name, DisplayName: name}
	for _, l := range h.modelList() {
		if l.Name == name {
			m = l
		}
	}
	writeJSON(w, http.StatusOK, h.appendModel(nil, m))
}

func (h *Handler) modelList() []ListedModel {
	if h.ModelList != nil {
		return h.ModelList
	}
	return DefaultModels
}

// maxOutputTokens is what the model entries advertise.
const maxOutputTokens = 64_000

func (h *Handler) appendModel(b []byte, m ListedModel) []byte {
	claude := h.claude(m.Name)
	b = append(b, `{"name":`...)
	b = relay.AppendString(b, "models/"+m.Name)
	b = append(b, `,"version":"001","displayName":`...)
	b = relay.AppendString(b, m.DisplayName)
	b = append(b, `,"description":`...)
	b = relay.AppendString(b, "Served by "+claude+" through kirotray")
	b = append(b, `,"inputTokenLimit":`...)
	b = relay.AppendInt(b, h.Relay.WindowOf(claude))
	b = append(b, `,"outputTokenLimit":`...)
	b = relay.AppendInt(b, maxOutputTokens)
	return append(b, `,"supportedGenerationMethods":["generateContent","streamGenerateContent","countTokens"],"thinking":true}`...)
}
