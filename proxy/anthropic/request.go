// Package anthropic is kirotray's Anthropic Messages API front end: it parses
// /v1/messages bodies into the neutral conversation of proxy/conv, turns the
// decoded Kiro events of an answer into Anthropic stream events (a Translator:
// no I/O), renders those as SSE or folds them into one Message, and serves
// /v1/messages, /v1/messages/count_tokens and /v1/models. It does not talk to
// Kiro itself: a Backend sends the conversation and returns the event stream,
// or runs the web search a request asks for (conv.Request.WebSearch).
package anthropic

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/kirotray/kirotray/proxy/apierr"
	"github.com/kirotray/kirotray/proxy/conv"
	"github.com/kirotray/kirotray/proxy/kiro"
)

// ErrInvalidRequest is wrapped by every error a request body causes.
// It wraps apierr.ErrInvalidRequest.
var ErrInvalidRequest = fmt.Errorf("anthropic: %w", apierr.ErrInvalidRequest)

// RequestError says what is wrong with a request body: the offending field by
// its dotted path, or the byte offset of a JSON syntax error. Its text
// mentions only what the client sent, so it is shown to the client as it is.
// It wraps ErrInvalidRequest.
type RequestError struct {
	Path   string // dotted path of the field ("messages.3.content.1"); empty for the body or a syntax error
	Offset int    // byte offset of a JSON syntax error; -1 for other errors
	msg    string
	segs   []string // path segments, innermost first, collected while the error unwinds
}

func (e *RequestError) Error() string {
	switch {
	case e.Offset >= 0:
		return "invalid JSON at offset " + strconv.Itoa(e.Offset) + ": " + e.msg
	case e.Path != "":
		return e.Path + ": " + e.msg
	}
	return e.msg
}

// Unwrap makes errors.Is(err, ErrInvalidRequest) hold.
func (e *RequestError) Unwrap() error { return ErrInvalidRequest }

// Describe makes e a 400 invalid_request_error carrying its own text.
func (e *RequestError) Describe() *apierr.Failure {
	return &apierr.Failure{Status: http.StatusBadRequest, Type: InvalidRequestError, Message: e.Error()}
}

// fieldErr returns an error about a field; callers on the way up add the path.
func fieldErr(format string, args ...any) error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &RequestError{Offset: -1, msg: msg}
}

// at prefixes seg to the path of a field error.
func at(err error, seg string) error {
	if e, ok := err.(*RequestError); ok && e.Offset < 0 {
		e.segs = append(e.segs, seg)
	}
	return err
}

func atIndex(err error, i int) error {
	if err == nil {
		return nil
	}
	return at(err, strconv.Itoa(i))
}

// finish turns the collected segments into Path.
func finish(err error) error {
	if e, ok := err.(*RequestError); ok && len(e.segs) > 0 {
		var b strings.Builder
		for i := len(e.segs) - 1; i >= 0; i-- {
			b.WriteString(e.segs[i])
			if i > 0 {
				b.WriteByte('.')
			}
		}
		e.Path, e.segs = b.String(), nil
	}
	return err
}

// Request is a Messages API request body, as far as Kiro can use it. Fields
// the proxy cannot honour (temperature, top_p, top_k, cache_control,
// context_management, service_tier, container, mcp_servers, betas …) are
// skipped while parsing. Tool inputs and schemas alias the parsed body.
type Request struct {
	Model         string
	MaxTokens     int      // 0 when absent (count_tokens)
	System        []string // texts of the system blocks; a string system is one text
	Messages      []InputMessage
	Tools         []Tool
	ToolChoice    ToolChoice
	Thinking      ThinkingConfig
	Effort        string          // output_config.effort: low, medium, high or max
	OutputSchema  json.RawMessage // output_config.format's (or output_format's) schema when its type is json_schema
	UserID        string          // metadata.user_id
	StopSequences []string
	Stream        bool
}

// InputMessage is one message of the request; a string content is one text block.
type InputMessage struct {
	Role    string
	Content []InputBlock
}

// InputBlock is any content block a client may send; Type says which fields
// matter.
type InputBlock struct {
	Type      string
	Text      string          // text
	Source    *Source         // image, document
	Title     string          // document, web_search_result, search_result
	URL       string          // web_search_result; search_result's source
	ID        string          // tool_use, server_tool_use
	Name      string          // tool_use, server_tool_use
	Input     json.RawMessage // tool_use, server_tool_use: a JSON object
	ToolUseID string          // tool_result, web_search_tool_result
	Content   []InputBlock    // tool_result, web_search_tool_result, search_result
	IsError   bool            // tool_result
	ErrorCode string          // web_search_tool_result_error
	Thinking  string          // thinking
	Signature string          // thinking
	Data      string          // redacted_thinking
}

// Source is where an image's or a document's bytes are.
type Source struct {
	Type      string // base64, url, text, content or file
	MediaType string
	Data      string
	URL       string
	Content   []InputBlock // a content source's blocks
}

// Tool is a tool definition. Custom tools have an empty Type or "custom";
// any other type is an Anthropic server or built-in tool.
type Tool struct {
	Type        string
	Name        string
	Description string
	InputSchema json.RawMessage // a JSON object
	// The web search tool's options.
	AllowedDomains []string
	BlockedDomains []string
}

// ToolChoice is the request's tool_choice.
type ToolChoice struct {
	Type string // auto, any, tool or none; empty when absent
	Name string // for type tool
}

// ThinkingConfig is the request's thinking field.
type ThinkingConfig struct {
	Type         string // enabled, adaptive or disabled; empty when absent
	BudgetTokens int
}

var emptyObject = json.RawMessage(`{}`)

// ParseRequest parses and checks a /v1/messages body. Errors wrap
// ErrInvalidRequest (as a *RequestError) and say what is wrong and where.
//
// To stay far below a millisecond on a 100 KB body it copies almost nothing:
// strings without escapes, tool inputs and schemas point into body, and
// decoded strings share one buffer. So body must not be modified while the
// Request (or its ToConv form) is in use, and anything kept after the
// request (in a cache, an event) should be copied with strings.Clone, or it
// keeps the whole body alive.
func ParseRequest(body []byte) (*Request, error) {
	return parseRequest(body, true)
}

// ParseCountTokensRequest is ParseRequest for /v1/messages/count_tokens,
// which has no max_tokens.
func ParseCountTokensRequest(body []byte) (*Request, error) {
	return parseRequest(body, false)
}

func parseRequest(body []byte, needMaxTokens bool) (*Request, error) {
	s := &scanner{data: body}
	r := &Request{}
	var hasMaxTokens, hasMessages bool
	if s.ws() != '{' {
		if s.pos >= len(body) {
			return nil, fieldErr("empty request body: expected a JSON object")
		}
		if err := s.skip(); err != nil {
			return nil, err
		}
		return nil, fieldErr("request body must be a JSON object")
	}
	err := s.object(func(key []byte) error {
		switch string(key) {
		case "model":
			v, err := s.optStr()
			r.Model = v
			return at(err, "model")
		case "max_tokens":
			if null, err := s.null(); null || err != nil {
				return err
			}
			n, err := s.integer()
			r.MaxTokens, hasMaxTokens = n, true
			return at(err, "max_tokens")
		case "system":
			return at(s.system(r), "system")
		case "messages":
			if null, err := s.null(); null || err != nil {
				return err
			}
			hasMessages = true
			return at(s.messages(r), "messages")
		case "tools":
			return at(s.tools(r), "tools")
		case "tool_choice":
			return at(s.toolChoice(&r.ToolChoice), "tool_choice")
		case "thinking":
			return at(s.thinking(&r.Thinking), "thinking")
		case "output_config":
			return at(s.outputConfig(r), "output_config")
		case "output_format": // the structured-outputs beta's name for output_config.format
			return at(s.outputFormat(r), "output_format")
		case "metadata":
			return at(s.metadata(r), "metadata")
		case "stop_sequences":
			return at(s.stopSequences(r), "stop_sequences")
		case "stream":
			if null, err := s.null(); null || err != nil {
				return err
			}
			v, err := s.boolean()
			r.Stream = v
			return at(err, "stream")
		}
		return s.skip()
	})
	if err == nil {
		err = s.end()
	}
	if err == nil {
		err = r.check(needMaxTokens, hasMaxTokens, hasMessages)
	}
	if err != nil {
		return nil, finish(err)
	}
	return r, nil
}

// check validates what needs the whole request.
func (r *Request) check(needMaxTokens, hasMaxTokens, hasMessages bool) error {
	switch {
	case r.Model == "":
		return at(fieldErr("required"), "model")
	case needMaxTokens && !hasMaxTokens:
		return at(fieldErr("required"), "max_tokens")
	case needMaxTokens && r.MaxTokens < 1:
		return at(fieldErr("must be at least 1, got %d", r.MaxTokens), "max_tokens")
	case !hasMessages:
		return at(fieldErr("required"), "messages")
	case len(r.Messages) == 0:
		return at(fieldErr("at least one message is required"), "messages")
	}
	return nil
}

// optStr reads a string or null (as "").
func (s *scanner) optStr() (string, error) {
	if null, err := s.null(); null || err != nil {
		return "", err
	}
	return s.str()
}

func (s *scanner) system(r *Request) error {
	switch s.ws() {
	case 'n':
		return s.literal("null")
	case '"':
		v, err := s.str()
		if v != "" {
			r.System = append(r.System, v)
		}
		return err
	case '[':
	default:
		return s.typeErr("a string or an array of text blocks")
	}
	return s.array(func(i int) error {
		var typ, text string
		err := s.object(func(key []byte) error {
			switch string(key) {
			case "type":
				v, err := s.optStr()
				typ = v
				return at(err, "type")
			case "text":
				v, err := s.optStr()
				text = v
				return at(err, "text")
			}
			return s.skip()
		})
		if err == nil && typ != "text" {
			err = unknownType(typ)
		}
		if err != nil {
			return atIndex(err, i)
		}
		if text != "" && !strings.HasPrefix(text, billingHeader) {
			r.System = append(r.System, text)
		}
		return nil
	})
}

// billingHeader starts a system block Claude Code adds for Anthropic's
// billing ("x-anthropic-billing-header: cc_version=…; cc_entrypoint=…;"). It
// is not meant for the model, and it changes with every request.
const billingHeader = "x-anthropic-billing-header:"

func unknownType(typ string) error {
	if typ == "" {
		return at(fieldErr("required"), "type")
	}
	return fieldErr("unknown block type %q", typ)
}

func (s *scanner) messages(r *Request) error {
	return s.array(func(i int) error {
		var m InputMessage
		hasContent := false
		err := s.object(func(key []byte) error {
			switch string(key) {
			case "role":
				v, err := s.optStr()
				m.Role = v
				return at(err, "role")
			case "content":
				if null, err := s.null(); null || err != nil {
					return err
				}
				hasContent = true
				blocks, err := s.content(false, 0)
				m.Content = blocks
				return at(err, "content")
			}
			return s.skip()
		})
		if err == nil {
			switch {
			case m.Role == "":
				err = at(fieldErr("required"), "role")
			case m.Role != "user" && m.Role != "assistant" && m.Role != "system" && m.Role != "developer":
				err = at(fieldErr("unsupported role %q: use user or assistant (system text goes in the top-level system field)", m.Role), "role")
			case !hasContent:
				err = at(fieldErr("required"), "content")
			}
		}
		if err != nil {
			return atIndex(err, i)
		}
		r.Messages = append(r.Messages, m)
		return nil
	})
}

// Nesting levels of content: a message's blocks, then a tool result's (or a
// search result's, or a document content source's) blocks.
const (
	topLevel = iota
	nestedLevel
)

// content reads a content field: a string (one text block) or an array of
// blocks. With asObject an object is taken as a single block (the shape of a
// web_search_tool_result error).
func (s *scanner) content(asObject bool, level int) ([]InputBlock, error) {
	switch c := s.ws(); {
	case c == '"':
		v, err := s.str()
		if err != nil || v == "" {
			return nil, err
		}
		return []InputBlock{{Type: "text", Text: v}}, nil
	case c == '{' && asObject:
		var b InputBlock
		err := s.block(&b, level)
		return []InputBlock{b}, err
	case c != '[':
		return nil, s.typeErr("a string or an array of content blocks")
	}
	var blocks []InputBlock
	err := s.array(func(i int) error {
		blocks = append(blocks, InputBlock{})
		return atIndex(s.block(&blocks[len(blocks)-1], level), i)
	})
	return blocks, err
}

// block reads one content block and checks it for its level.
func (s *scanner) block(b *InputBlock, level int) error {
	err := s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "type":
			b.Type, err = s.optStr()
		case "text":
			b.Text, err = s.optStr()
		case "title":
			b.Title, err = s.optStr()
		case "url":
			b.URL, err = s.optStr()
		case "id":
			b.ID, err = s.optStr()
		case "name":
			b.Name, err = s.optStr()
		case "tool_use_id":
			b.ToolUseID, err = s.optStr()
		case "thinking":
			b.Thinking, err = s.optStr()
		case "signature":
			b.Signature, err = s.optStr()
		case "data":
			b.Data, err = s.optStr()
		case "error_code":
			b.ErrorCode, err = s.optStr()
		case "input":
			if s.ws() != '{' {
				if null, err := s.null(); null || err != nil {
					return err
				}
				return at(s.typeErr("a JSON object"), "input")
			}
			b.Input, err = s.raw()
		case "is_error":
			if null, err := s.null(); null || err != nil {
				return err
			}
			b.IsError, err = s.boolean()
		case "content":
			if null, err := s.null(); null || err != nil {
				return err
			}
			b.Content, err = s.content(true, nestedLevel)
		case "source":
			switch s.ws() {
			case '"': // a search_result's source is its URL
				b.URL, err = s.str()
			case 'n':
				err = s.literal("null")
			default:
				b.Source = &Source{}
				err = s.source(b.Source)
			}
		default:
			return s.skip()
		}
		return at(err, string(key))
	})
	if err != nil {
		return err
	}
	return b.check(level)
}

func (s *scanner) source(src *Source) error {
	return s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "type":
			src.Type, err = s.optStr()
		case "media_type":
			src.MediaType, err = s.optStr()
		case "data":
			src.Data, err = s.optStr()
		case "url":
			src.URL, err = s.optStr()
		case "content":
			if null, err := s.null(); null || err != nil {
				return err
			}
			src.Content, err = s.content(false, nestedLevel)
		default:
			return s.skip()
		}
		return at(err, string(key))
	})
}

// imageTypes are the media types Kiro accepts for images.
var imageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// check validates a block for where it appears; the caller adds the path.
func (b *InputBlock) check(level int) error {
	switch b.Type {
	case "text", "thinking", "redacted_thinking":
		if level != topLevel && b.Type != "text" {
			return fieldErr("block type %q is not allowed here", b.Type)
		}
	case "image":
		return b.checkImage()
	case "document":
		if b.Source == nil {
			return at(fieldErr("required"), "source")
		}
	case "tool_use", "server_tool_use":
		if level != topLevel {
			return fieldErr("block type %q is not allowed here", b.Type)
		}
		if b.ID == "" {
			return at(fieldErr("required"), "id")
		}
		if b.Name == "" {
			return at(fieldErr("required"), "name")
		}
	case "tool_result", "web_search_tool_result":
		if level != topLevel {
			return fieldErr("block type %q is not allowed here", b.Type)
		}
		if b.ToolUseID == "" {
			return at(fieldErr("required"), "tool_use_id")
		}
	case "search_result", "web_search_result", "web_search_tool_result_error":
		if level == topLevel && b.Type != "search_result" {
			return fieldErr("block type %q is only allowed inside a web_search_tool_result", b.Type)
		}
	default:
		return unknownType(b.Type)
	}
	return nil
}

func (b *InputBlock) checkImage() error {
	src := b.Source
	if src == nil {
		return at(fieldErr("required"), "source")
	}
	switch src.Type {
	case "base64":
	case "url":
		return fieldErr("image URLs are not supported: send the image as base64")
	case "file":
		return fieldErr("file sources are not supported: send the image as base64")
	case "":
		return at(at(fieldErr("required"), "type"), "source")
	default:
		return at(at(fieldErr("unknown image source type %q", src.Type), "type"), "source")
	}
	if !imageTypes[src.MediaType] {
		if src.MediaType == "" {
			return at(at(fieldErr("required"), "media_type"), "source")
		}
		return at(at(fieldErr("unsupported image type %q: use image/jpeg, image/png, image/gif or image/webp", src.MediaType), "media_type"), "source")
	}
	if imageData(src.Data) == "" {
		return at(at(fieldErr("required"), "data"), "source")
	}
	return nil
}

// imageData strips a data: URL prefix some clients leave in base64 data.
func imageData(d string) string {
	if strings.HasPrefix(d, "data:") {
		if i := strings.Index(d, ";base64,"); i >= 0 {
			return d[i+len(";base64,"):]
		}
	}
	return d
}

func (s *scanner) tools(r *Request) error {
	if null, err := s.null(); null || err != nil {
		return err
	}
	return s.array(func(i int) error {
		var t Tool
		err := s.object(func(key []byte) error {
			var err error
			switch string(key) {
			case "type":
				t.Type, err = s.optStr()
			case "name":
				t.Name, err = s.optStr()
			case "description":
				t.Description, err = s.optStr()
			case "input_schema":
				if null, err := s.null(); null || err != nil {
					return err
				}
				if s.ws() != '{' {
					return at(s.typeErr("a JSON Schema object"), "input_schema")
				}
				t.InputSchema, err = s.raw()
			case "allowed_domains":
				t.AllowedDomains, err = s.strings()
			case "blocked_domains":
				t.BlockedDomains, err = s.strings()
			default:
				return s.skip()
			}
			return at(err, string(key))
		})
		if err == nil && t.custom() && t.Name == "" {
			err = at(fieldErr("required"), "name")
		}
		if err != nil {
			return atIndex(err, i)
		}
		r.Tools = append(r.Tools, t)
		return nil
	})
}

// custom reports whether t is a client-defined tool (as opposed to a server
// tool such as web_search_20250305).
func (t *Tool) custom() bool { return t.Type == "" || t.Type == "custom" }

func (s *scanner) toolChoice(tc *ToolChoice) error {
	if null, err := s.null(); null || err != nil {
		return err
	}
	err := s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "type":
			tc.Type, err = s.optStr()
		case "name":
			tc.Name, err = s.optStr()
		default:
			return s.skip()
		}
		return at(err, string(key))
	})
	if err != nil {
		return err
	}
	switch tc.Type {
	case "auto", "any", "none":
	case "tool":
		if tc.Name == "" {
			return at(fieldErr("required when type is \"tool\""), "name")
		}
	case "":
		return at(fieldErr("required"), "type")
	default:
		return at(fieldErr("unknown tool_choice type %q: use auto, any, tool or none", tc.Type), "type")
	}
	return nil
}

func (s *scanner) thinking(tc *ThinkingConfig) error {
	if null, err := s.null(); null || err != nil {
		return err
	}
	err := s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "type":
			tc.Type, err = s.optStr()
		case "budget_tokens":
			if null, err := s.null(); null || err != nil {
				return err
			}
			tc.BudgetTokens, err = s.integer()
		default:
			return s.skip()
		}
		return at(err, string(key))
	})
	if err != nil {
		return err
	}
	switch tc.Type {
	case "enabled":
		if tc.BudgetTokens < 1 {
			return at(fieldErr("required: a positive number of tokens when thinking is enabled"), "budget_tokens")
		}
	case "adaptive", "disabled":
	case "":
		return at(fieldErr("required"), "type")
	default:
		return at(fieldErr("unknown thinking type %q: use enabled, adaptive or disabled", tc.Type), "type")
	}
	return nil
}

func (s *scanner) outputConfig(r *Request) error {
	if null, err := s.null(); null || err != nil {
		return err
	}
	return s.object(func(key []byte) error {
		switch string(key) {
		case "effort":
			v, err := s.optStr()
			r.Effort = v
			return at(err, "effort")
		case "format":
			return at(s.outputFormat(r), "format")
		}
		return s.skip()
	})
}

// outputFormat reads {"type":"json_schema","schema":{…}}.
func (s *scanner) outputFormat(r *Request) error {
	if null, err := s.null(); null || err != nil {
		return err
	}
	var typ string
	var schema json.RawMessage
	err := s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "type":
			typ, err = s.optStr()
		case "schema":
			if null, err := s.null(); null || err != nil {
				return err
			}
			if s.ws() != '{' {
				return at(s.typeErr("a JSON Schema object"), "schema")
			}
			schema, err = s.raw()
		default:
			return s.skip()
		}
		return at(err, string(key))
	})
	if err == nil && typ == "json_schema" && len(schema) > 0 {
		r.OutputSchema = schema
	}
	return err // other formats (none exist yet) are left to the model
}

// strings reads an array of strings or null.
func (s *scanner) strings() ([]string, error) {
	if null, err := s.null(); null || err != nil {
		return nil, err
	}
	var out []string
	err := s.array(func(i int) error {
		v, err := s.str()
		if err != nil {
			return atIndex(err, i)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

func (s *scanner) metadata(r *Request) error {
	if null, err := s.null(); null || err != nil {
		return err
	}
	return s.object(func(key []byte) error {
		if string(key) == "user_id" {
			v, err := s.optStr()
			r.UserID = v
			return at(err, "user_id")
		}
		return s.skip()
	})
}

func (s *scanner) stopSequences(r *Request) error {
	if null, err := s.null(); null || err != nil {
		return err
	}
	return s.array(func(i int) error {
		v, err := s.str()
		if err != nil {
			return atIndex(err, i)
		}
		r.StopSequences = append(r.StopSequences, v)
		return nil
	})
}

// ThinkingRequested reports whether the request asks for extended thinking,
// in its thinking field or with a model name that does ("-thinking", by the
// rule proxy/kiro applies when it injects the thinking tags).
func (r *Request) ThinkingRequested() bool {
	return r.Thinking.Type == "enabled" || r.Thinking.Type == "adaptive" || kiro.ThinkingModelName(r.Model)
}

// checkImages refuses images whose decoded size is over limit bytes (no
// check when limit ≤ 0), and a last message with more images than one
// upstream request may carry (kiro.MaxImages): older messages' images
// beyond that are left out by proxy/kiro, but the newest must all go.
func (r *Request) checkImages(limit int) error {
	var check func(blocks []InputBlock) (int, error)
	check = func(blocks []InputBlock) (int, error) {
		count := 0
		for j := range blocks {
			b := &blocks[j]
			var err error
			if b.Type == "image" && b.Source != nil {
				count++
				if n := len(imageData(b.Source.Data)) / 4 * 3; limit > 0 && n > limit {
					err = fieldErr("image too large: about %d bytes decoded, the upstream accepts at most %d per image: send a smaller or more compressed image", n, limit)
				}
			} else if len(b.Content) > 0 {
				var n int
				n, err = check(b.Content)
				count += n
				err = at(err, "content")
			}
			if err != nil {
				return 0, atIndex(err, j)
			}
		}
		return count, nil
	}
	for i := range r.Messages {
		n, err := check(r.Messages[i].Content)
		if err != nil {
			return finish(at(atIndex(at(err, "content"), i), "messages"))
		}
		if i == len(r.Messages)-1 && n > kiro.MaxImages {
			return finish(at(atIndex(at(fieldErr("too many images: %d, the upstream accepts at most %d in one request", n, kiro.MaxImages), "content"), i), "messages"))
		}
	}
	return nil
}

// searchRequest reports whether the request asks for nothing but a web
// search, which the backend can run instead of a model call: web search
// server tools only, and either a single user message or a tool_choice that
// forces the search. That is what Claude Code's WebSearch tool sends. In a
// longer conversation the model would first decide whether to search, which
// Kiro cannot do.
func (r *Request) searchRequest() bool {
	if len(r.Tools) == 0 || !(len(r.Messages) == 1 || r.ToolChoice.Type == "any" || r.ToolChoice.Type == "tool") {
		return false
	}
	for i := range r.Tools {
		if !r.Tools[i].webSearch() || r.ToolChoice.Type == "tool" && r.ToolChoice.Name != r.Tools[i].Name {
			return false
		}
	}
	return true
}

// hasWebSearch reports whether any tool is a web search server tool.
func (r *Request) hasWebSearch() bool {
	for i := range r.Tools {
		if r.Tools[i].webSearch() {
			return true
		}
	}
	return false
}

// webSearch reports whether t is Anthropic's web search server tool
// (web_search_20250305 and its successors).
func (t *Tool) webSearch() bool { return strings.HasPrefix(t.Type, "web_search_") }

// searchQueryPrefix starts the message of Claude Code's WebSearch tool.
const searchQueryPrefix = "Perform a web search for the query: "

// searchQuery is the query of a search request: the text of the last user
// message, without Claude Code's framing.
func (r *Request) searchQuery() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		m := &r.Messages[i]
		if m.Role != "user" {
			continue
		}
		var parts []string
		for j := range m.Content {
			if b := &m.Content[j]; b.Type == "text" && strings.TrimSpace(b.Text) != "" {
				parts = append(parts, strings.TrimSpace(b.Text))
			}
		}
		q := strings.Join(parts, " ")
		if i := strings.LastIndex(q, searchQueryPrefix); i >= 0 {
			q = q[i+len(searchQueryPrefix):]
		}
		return strings.TrimSpace(q)
	}
	return ""
}

// WebSearchUnavailable is added to the system prompt when a request's web
// search tool cannot be served, so that the model says so rather than
// pretend it searched.
const WebSearchUnavailable = "The web_search tool is not available in this session. If answering needs a web search, say that no search could be made, then answer from what you know."

// ToConv returns the request as a neutral conversation. It cannot fail:
// everything it relies on was checked by ParseRequest. The result shares tool
// inputs and schemas with r.
func (r *Request) ToConv() *conv.Request {
	c := &conv.Request{
		Model:          r.Model,
		System:         strings.Join(r.System, "\n"),
		MaxTokens:      r.MaxTokens,
		StopSequences:  r.StopSequences,
		ConversationID: conversationID(r.UserID),
		Messages:       make([]conv.Message, 0, len(r.Messages)),
	}
	for i := range r.Messages {
		m := &r.Messages[i]
		role := conv.User
		if m.Role == "assistant" {
			role = conv.Assistant
		}
		content := appendBlocks(make([]conv.Block, 0, len(m.Content)), m.Content)
		if m.Role == "system" || m.Role == "developer" {
			// Claude Code sends system messages mid-conversation (e.g. the list
			// of agent types). Kiro has only user and assistant turns: keep the
			// text in place, marked the way Claude Code marks its own context.
			for j := range content {
				if content[j].Type == conv.Text {
					content[j].Text = "<system-reminder>\n" + content[j].Text + "\n</system-reminder>"
				}
			}
		}
		c.Messages = append(c.Messages, conv.Message{Role: role, Content: content})
	}
	switch {
	case r.searchRequest():
		// Served by the backend's own search (kiro: the MCP web_search).
		ws := &conv.WebSearch{Query: r.searchQuery()}
		for i := range r.Tools {
			ws.AllowedDomains = append(ws.AllowedDomains, r.Tools[i].AllowedDomains...)
			ws.BlockedDomains = append(ws.BlockedDomains, r.Tools[i].BlockedDomains...)
		}
		c.WebSearch = ws
	case r.hasWebSearch():
		// A search the model would decide on (next to client tools, or
		// later in a conversation) would have to run in the middle of its
		// answer, which Kiro cannot do: the tool is left out.
		c.System = joinSystem(c.System, WebSearchUnavailable)
	}
	if len(r.OutputSchema) > 0 {
		c.OutputSchema = r.OutputSchema
	}
	for i := range r.Tools {
		t := &r.Tools[i]
		if !t.custom() {
			continue // server tools (web_search above, …): Kiro has no equivalent
		}
		schema := t.InputSchema
		if len(schema) == 0 {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		c.Tools = append(c.Tools, conv.Tool{Name: t.Name, Description: t.Description, Schema: schema})
	}
	switch r.ToolChoice.Type {
	case "any":
		c.ToolChoice.Type = conv.ToolChoiceAny
	case "tool":
		c.ToolChoice = conv.ToolChoice{Type: conv.ToolChoiceTool, Name: r.ToolChoice.Name}
	case "none":
		c.ToolChoice.Type = conv.ToolChoiceNone
	}
	switch {
	case r.Thinking.Type == "enabled":
		c.Thinking = conv.Thinking{Mode: conv.ThinkingEnabled, Budget: r.Thinking.BudgetTokens}
	case r.Thinking.Type == "adaptive":
		c.Thinking = conv.Thinking{Mode: conv.ThinkingAdaptive, Effort: effort(r.Effort)}
	}
	// A "-thinking" model name is left to proxy/kiro, which picks the mode
	// that suits the model (kiro.Model.Thinking).
	return c
}

// joinSystem appends a paragraph to a system prompt.
func joinSystem(system, add string) string {
	if system == "" {
		return add
	}
	return system + "\n\n" + add
}

func effort(e string) string {
	switch e {
	case "low", "medium", "high", "max":
		return e
	}
	return "high" // the API's default
}

// appendBlocks converts content blocks. Blocks Kiro cannot take become text
// (server tool calls and results, documents) or are dropped (redacted
// thinking, which only Anthropic can read).
func appendBlocks(dst []conv.Block, src []InputBlock) []conv.Block {
	for i := range src {
		b := &src[i]
		switch b.Type {
		case "text":
			dst = append(dst, conv.Block{Type: conv.Text, Text: b.Text})
		case "image":
			dst = append(dst, conv.Block{Type: conv.Image, MediaType: b.Source.MediaType, Data: imageData(b.Source.Data)})
		case "tool_use":
			input := b.Input
			if len(input) == 0 {
				input = emptyObject
			}
			dst = append(dst, conv.Block{Type: conv.ToolUse, ToolUseID: b.ID, ToolName: b.Name, Input: input})
		case "tool_result":
			dst = append(dst, conv.Block{Type: conv.ToolResult, ToolUseID: b.ToolUseID, IsError: b.IsError,
				Content: appendBlocks(nil, b.Content)})
		case "thinking":
			dst = append(dst, conv.Block{Type: conv.Reasoning, Text: b.Thinking, Signature: b.Signature})
		case "redacted_thinking":
		default:
			if t := b.asText(); t != "" {
				dst = append(dst, conv.Block{Type: conv.Text, Text: t})
			}
		}
	}
	return dst
}

// asText renders a block Kiro has no form for as text the model can read.
func (b *InputBlock) asText() string {
	var sb strings.Builder
	switch b.Type {
	case "document":
		b.documentText(&sb)
	case "server_tool_use":
		sb.WriteString("[Server tool call: " + b.Name + " (" + b.ID + ")]\n")
		sb.Write(b.Input)
	case "web_search_tool_result":
		sb.WriteString("[Web search results for " + b.ToolUseID + "]")
		for i := range b.Content {
			r := &b.Content[i]
			switch {
			case r.Type == "web_search_tool_result_error":
				sb.WriteString("\nerror: " + r.ErrorCode)
			case r.URL != "" || r.Title != "":
				sb.WriteString("\n- " + r.Title + " <" + r.URL + ">")
			}
		}
	case "search_result":
		sb.WriteString("[Search result: " + b.Title + " <" + b.URL + ">]")
		for i := range b.Content {
			if b.Content[i].Type == "text" {
				sb.WriteString("\n" + b.Content[i].Text)
			}
		}
	}
	return sb.String()
}

// documentText writes a document's text; PDFs and other binary documents
// become a note, because Kiro's document support is unconfirmed and a 400
// here would wedge every later request of a conversation that holds one.
func (b *InputBlock) documentText(sb *strings.Builder) {
	name := b.Title
	if name == "" {
		name = "untitled"
	}
	src := b.Source
	switch src.Type {
	case "text":
		sb.WriteString("[Document: " + name + "]\n" + src.Data)
	case "content":
		sb.WriteString("[Document: " + name + "]")
		for i := range src.Content {
			if src.Content[i].Type == "text" {
				sb.WriteString("\n" + src.Content[i].Text)
			}
		}
	default:
		kind := src.MediaType
		if kind == "" {
			kind = src.Type
		}
		sb.WriteString("[Document " + name + " (" + kind + ") omitted: this proxy cannot pass documents to the model; ask the user for its text]")
	}
}

// conversationID extracts the session id Claude Code puts in metadata.user_id:
// either "user_<hash>_account_<uuid>_session_<uuid>" or a JSON object string
// with a session_id member. Anything else gives "".
func conversationID(userID string) string {
	var id string
	if strings.HasPrefix(userID, "{") {
		var v struct {
			SessionID string `json:"session_id"`
		}
		if json.Unmarshal([]byte(userID), &v) != nil {
			return ""
		}
		id = v.SessionID
	} else if i := strings.LastIndex(userID, "_session_"); i >= 0 {
		id = userID[i+len("_session_"):]
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return ""
	}
	return u.String()
}
