import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import GithubSlugger from 'github-slugger';
import type { Nodes } from 'mdast';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { toString as textOf } from 'mdast-util-to-string';
import { describe, expect, test } from 'vitest';

// Every relative link of the README and the docs must lead somewhere: a file or folder of the
// repository and, after a `#`, a heading of that Markdown file (as GitHub makes anchors) or a
// line of another file (`#L10`). Links with a scheme (https:, mailto:) are not followed: the
// tests reach no network. Links in code blocks and code spans are text, not links.

const root = fileURLToPath(new URL('../..', import.meta.url));

/** README.md, and every Markdown file under docs/ and examples/. */
function documentationFiles(): string[] {
  const under = (folder: string) =>
    readdirSync(join(root, folder), { recursive: true, encoding: 'utf8' })
      .filter((name) => name.endsWith('.md'))
      .map((name) => join(folder, name));
  return ['README.md', ...under('docs'), ...under('examples')].sort();
}

interface Link {
  url: string;
  line: number;
}

/**
 * The links and link definitions of a Markdown text, with the line each starts on.
 *
 * @example
 * linksIn('See [docs](docs/a.md#b).'); // [{ url: 'docs/a.md#b', line: 1 }]
 */
function linksIn(markdown: string): Link[] {
  const links: Link[] = [];
  const visit = (node: Nodes) => {
    if (node.type === 'link' || node.type === 'definition' || node.type === 'image') {
      links.push({ url: node.url, line: node.position?.start.line ?? 0 });
    }
    if ('children' in node) for (const child of node.children) visit(child);
  };
  visit(fromMarkdown(markdown));
  return links;
}

/**
 * The anchors GitHub gives the headings of a Markdown text (lower case, punctuation dropped,
 * spaces as hyphens, `-1`, `-2` for repeats).
 *
 * @example
 * anchorsIn('# Local development\n## Tokens\n## Tokens'); // Set { 'local-development', 'tokens', 'tokens-1' }
 */
function anchorsIn(markdown: string): Set<string> {
  const slugger = new GithubSlugger();
  const anchors = new Set<string>();
  const visit = (node: Nodes) => {
    if (node.type === 'heading') anchors.add(slugger.slug(textOf(node)));
    if ('children' in node) for (const child of node.children) visit(child);
  };
  visit(fromMarkdown(markdown));
  return anchors;
}

/** The anchors of each Markdown file a link names, parsed once however many links name it. */
const anchorsOfFile = new Map<string, Set<string>>();
function anchorsOf(path: string): Set<string> {
  let anchors = anchorsOfFile.get(path);
  if (anchors === undefined) {
    anchors = anchorsIn(readFileSync(path, 'utf8'));
    anchorsOfFile.set(path, anchors);
  }
  return anchors;
}

/** Why a link from `file` (relative to the root) leads nowhere, or undefined when it resolves. */
function problemOf(file: string, url: string): string | undefined {
  if (/^[a-z][a-z\d+.-]*:/i.test(url) || url.startsWith('//')) return undefined;
  const hash = url.indexOf('#');
  const path = decodeURIComponent(hash === -1 ? url : url.slice(0, hash));
  const anchor = hash === -1 ? undefined : decodeURIComponent(url.slice(hash + 1));
  const target =
    path === ''
      ? join(root, file)
      : path.startsWith('/')
        ? join(root, path)
        : resolve(root, dirname(file), path);
  const fromRoot = relative(root, target);
  if (fromRoot.startsWith(`..${sep}`) || fromRoot === '..') return 'leads out of the repository';
  if (!existsSync(target)) return `${fromRoot || '.'} does not exist`;
  if (anchor === undefined) return undefined;
  if (statSync(target).isDirectory()) return `${fromRoot} is a folder; it has no #${anchor}`;
  if (!target.endsWith('.md')) {
    return /^L\d+(-L\d+)?$/.test(anchor) ? undefined : `#${anchor} is not a line of ${fromRoot}`;
  }
  return anchorsOf(target).has(anchor) ? undefined : `${fromRoot} has no heading #${anchor}`;
}

describe('documentation links', () => {
  test('every relative link and #anchor in README.md, docs/ and examples/ resolves', () => {
    // Prepare
    const files = documentationFiles();

    // Act
    const broken: string[] = [];
    let checked = 0;
    for (const file of files) {
      for (const { url, line } of linksIn(readFileSync(join(root, file), 'utf8'))) {
        checked++;
        const problem = problemOf(file, url);
        if (problem !== undefined) broken.push(`${file}:${line}: (${url}) ${problem}`);
      }
    }

    // Assess
    expect(files).toContain('docs/deploying.md');
    expect(checked).toBeGreaterThan(20);
    expect(broken, `broken links:\n${broken.join('\n')}`).toEqual([]);
  });

  test('links in code are text, not links; every link keeps its line', () => {
    // Act
    const links = linksIn(
      [
        'Read [the docs](docs/a.md) and `[not](a link)`.',
        '',
        '```md',
        '[not a link either](missing.md)',
        '```',
        '',
        'A [reference][ref] and <https://example.com>.',
        '',
        '[ref]: docs/b.md#part',
      ].join('\n'),
    );

    // Assess
    expect(links).toEqual([
      { url: 'docs/a.md', line: 1 },
      { url: 'https://example.com', line: 7 },
      { url: 'docs/b.md#part', line: 9 },
    ]);
  });

  test("anchors are GitHub's: lower case, punctuation dropped, repeats numbered", () => {
    // Act
    const anchors = anchorsIn(
      '# Moving from the FastAPI `ConnectionManager`\n## Tokens\n## Tokens\n## What to watch on AWS?',
    );

    // Assess
    expect([...anchors]).toEqual([
      'moving-from-the-fastapi-connectionmanager',
      'tokens',
      'tokens-1',
      'what-to-watch-on-aws',
    ]);
  });

  test('a missing file, a missing heading and a path out of the repository are each named', () => {
    // Act
    const problems = [
      problemOf('README.md', 'docs/no-such-page.md'),
      problemOf('README.md', 'docs/deploying.md#no-such-heading'),
      problemOf('docs/deploying.md', '../../outside.md'),
      problemOf('README.md', 'lib/#anchor'),
      problemOf('README.md', 'package.json#L3'),
      problemOf('README.md', 'https://example.com/unchecked'),
    ];

    // Assess
    expect(problems).toEqual([
      'docs/no-such-page.md does not exist',
      'docs/deploying.md has no heading #no-such-heading',
      'leads out of the repository',
      'lib is a folder; it has no #anchor',
      undefined,
      undefined,
    ]);
  });
});
