// Package markup converts between Markdown and the two rich-text formats Jira speaks:
// the Atlassian Document Format (ADF, Jira Cloud, REST v3) and wiki markup (Jira Data Center,
// REST v2).
//
// Writing to Jira:
//
//   - [MarkdownToADF] renders CommonMark + GFM tables and strikethrough as ADF that passes
//     [ValidateADF]. Constructs ADF cannot hold in a given place are degraded rather than
//     rejected: a heading inside a list or quote becomes a bold paragraph, a nested quote is
//     flattened, a table outside the top level becomes one paragraph per row, a rule inside a
//     list or quote is dropped. HTML is kept as literal text, images become links, empty list
//     items are left out, and whitespace at the edges of paragraphs and marks is normalised.
//   - [MarkdownToWiki] renders the same Markdown as wiki markup. Text coming from the Markdown
//     is escaped so it cannot open a macro ({code}, {noformat}, {quote}, …), a link, a mention
//     ([~user]) or a table.
//
// Reading from Jira:
//
//   - [ADFToMarkdown] and [ADFToText] render Cloud descriptions and comments. Unknown nodes
//     contribute their text content; media become "[attachment]".
//   - [WikiToMarkdown] and [WikiToText] are best-effort: headings, emphasis, monospace, code and
//     noformat blocks, quotes and panels, lists, tables, links and mentions are understood;
//     other macros are dropped and their bodies kept as text.
//
// All conversions go through one format-neutral tree whose node kinds are ADF's.
package markup
