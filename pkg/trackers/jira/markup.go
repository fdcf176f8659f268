package jira

import (
	"encoding/json"
	"fmt"

	"github.com/connectorhub/connectorhub/pkg/markup"
	"github.com/connectorhub/connectorhub/pkg/trackers"
	"github.com/connectorhub/connectorhub/pkg/trackers/internal/trackerhttp"
)

// fromBody converts a description or comment body to text and Markdown: an
// ADF document on Cloud (v3), a wiki markup string on Data Center (v2).
// Absent or null bodies are empty.
func (c jiraClient) fromBody(raw json.RawMessage) (text, md string, err error) {
	if isJSONNull(raw) {
		return "", "", nil
	}
	if !c.cloud {
		wiki, err := wikiString(raw)
		if err != nil {
			return "", "", err
		}
		text, md = markup.WikiToTextAndMarkdown(wiki)
		return text, md, nil
	}
	if text, md, err = markup.ADFToTextAndMarkdown(raw); err != nil {
		return "", "", fmt.Errorf("%w: %v", trackers.ErrMalformedResponse, err)
	}
	return text, md, nil
}

// toBody renders Markdown as a body to send: ADF on Cloud (a mention node
// for mention's account id), wiki markup on Data Center ([~login]).
func (c jiraClient) toBody(md string, mention *trackers.User) (any, error) {
	if !c.cloud {
		var opts []markup.WikiOption
		if mention != nil {
			login := mention.Login
			if login == "" {
				login = mention.ID
			}
			opts = append(opts, markup.WithWikiMention(login))
		}
		return markup.MarkdownToWiki(md, opts...), nil
	}
	var opts []markup.ADFOption
	if mention != nil {
		opts = append(opts, markup.WithMention(mention.ID, mention.DisplayName))
	}
	doc, err := markup.MarkdownToADF(md, opts...)
	if err != nil {
		return nil, err
	}
	return doc, nil
}

// markdownOf is fromBody's Markdown alone: a comment has no plain text in
// the event, so its text is not rendered.
func (c jiraClient) markdownOf(raw json.RawMessage) (string, error) {
	if isJSONNull(raw) {
		return "", nil
	}
	if !c.cloud {
		wiki, err := wikiString(raw)
		if err != nil {
			return "", err
		}
		return markup.WikiToMarkdown(wiki), nil
	}
	md, err := markup.ADFToMarkdown(raw)
	if err != nil {
		return "", fmt.Errorf("%w: %v", trackers.ErrMalformedResponse, err)
	}
	return md, nil
}

// wikiString decodes a Data Center body, a JSON string, with the search
// page's scanner (trackerhttp.ViewScanner): one without escapes is its bytes between
// the quotes, one with escapes (most have newlines) is unescaped once
// (encoding/json's Unmarshal was four allocations per ticket, issue 9).
// What that reader does not take goes through encoding/json. The string
// may view raw: both callers only read it while they convert it (the
// conversions copy their results out), and nothing writes to a body.
func wikiString(raw json.RawMessage) (string, error) {
	if s, err := trackerhttp.ViewString(raw); err == nil {
		return s, nil
	}
	var wiki string
	if err := json.Unmarshal(raw, &wiki); err != nil {
		return "", fmt.Errorf("%w: wiki body is not a string", trackers.ErrMalformedResponse)
	}
	return wiki, nil
}
