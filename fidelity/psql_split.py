"""Cuts a psql script into the query buffers psql would send, as psql's own lexer (psqlscan.l) does.

Meta-commands (a backslash outside quotes and comments, to the end of the line) are dropped;
`\\g` and its kin send the buffer; `\\;` stays a `;` inside the buffer; the data lines of
`COPY ... FROM stdin` are skipped up to `\\.`; strings, quoted identifiers, dollar quotes and
comments hide what they contain; `;` ends a buffer only outside parentheses and outside the
BEGIN ... END of a SQL-standard function body. A buffer may hold more than one statement.
"""

import re

SENDING_COMMANDS = {"g", "gx", "gset", "gexec", "gdesc", "crosstabview", "watch"}
COPY_FROM_STDIN = re.compile(r"^\s*copy\b.*\bfrom\s+stdin\b", re.IGNORECASE | re.DOTALL)
DOLLAR_TAG = re.compile(r"\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")
WORD = re.compile(r"[A-Za-z_\x80-\uffff][A-Za-z0-9_$\x80-\uffff]*")
META = re.compile(r"\\([A-Za-z]*)")


def split(text):
    """The buffers psql sends for `text`, in order, each stripped."""
    return list(_Scanner(text).buffers())


class _Scanner:
    def __init__(self, text):
        self.text = text
        self.pos = 0
        self.buffer = []
        self.words = []  # the buffer's first words, lower case: psql looks at four
        self.parens = 0
        self.begins = 0

    def buffers(self):
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char == "\\":
                yield from self._meta_command()
            elif char == ";" and self.parens == 0 and self.begins == 0:
                self._take(1)
                yield from self._send()
            else:
                self._token(char)
        yield from self._send()

    def _take(self, length):
        self.buffer.append(self.text[self.pos : self.pos + length])
        self.pos += length

    def _take_until(self, closing, start_skip):
        end = self.text.find(closing, self.pos + start_skip)
        end = len(self.text) if end < 0 else end + len(closing)
        self._take(end - self.pos)

    def _token(self, char):
        text, pos = self.text, self.pos
        if text.startswith("--", pos):
            self._take_until("\n", 0)
        elif text.startswith("/*", pos):
            self._block_comment()
        elif char == "'":
            escapes = pos > 0 and text[pos - 1] in "eE" and (pos < 2 or not _is_word_char(text[pos - 2]))
            self._quoted("'", escapes)
        elif char == '"':
            self._quoted('"', False)
        elif char == "$" and not (pos > 0 and _is_word_char(text[pos - 1])) and DOLLAR_TAG.match(text, pos):
            tag = DOLLAR_TAG.match(text, pos).group(0)
            self._take_until(tag, len(tag))
        elif WORD.match(text, pos) and not (pos > 0 and _is_word_char(text[pos - 1])):
            word = WORD.match(text, pos).group(0)
            self._word(word.lower())
            self._take(len(word))
        else:
            if char == "(":
                self.parens += 1
            elif char == ")" and self.parens:
                self.parens -= 1
            self._take(1)

    def _word(self, word):
        if len(self.words) < 4:
            self.words.append(word)
        if word in ("begin", "case") and (self.begins or _creates_routine(self.words)):
            self.begins += 1
        elif word == "end" and self.begins:
            self.begins -= 1

    def _block_comment(self):
        depth, pos, text = 0, self.pos, self.text
        while pos < len(text):
            if text.startswith("/*", pos):
                depth, pos = depth + 1, pos + 2
            elif text.startswith("*/", pos):
                depth, pos = depth - 1, pos + 2
                if depth == 0:
                    break
            else:
                pos += 1
        self._take(pos - self.pos)

    def _quoted(self, quote, escapes):
        pos, text = self.pos + 1, self.text
        while pos < len(text):
            if escapes and text[pos] == "\\":
                pos += 2
            elif text[pos] == quote:
                if text.startswith(quote * 2, pos):
                    pos += 2
                else:
                    pos += 1
                    break
            else:
                pos += 1
        self._take(min(pos, len(text)) - self.pos)

    def _meta_command(self):
        text = self.text
        if text.startswith("\\;", self.pos) or text.startswith("\\:", self.pos):
            self.buffer.append(text[self.pos + 1])
            self.pos += 2
            return
        name = META.match(text, self.pos).group(1)
        end = text.find("\n", self.pos)
        self.pos = len(text) if end < 0 else end
        if name in SENDING_COMMANDS or name.startswith("g") and name[1:] in ("", "x"):
            yield from self._send()

    def _send(self):
        statement = "".join(self.buffer).strip()
        self.buffer, self.words, self.parens, self.begins = [], [], 0, 0
        if not statement:
            return
        yield statement
        if COPY_FROM_STDIN.match(_without_comments(statement)):
            self._skip_copy_data()

    def _skip_copy_data(self):
        text = self.text
        line_end = text.find("\n", self.pos)
        pos = len(text) if line_end < 0 else line_end + 1
        while pos < len(text):
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            line = text[pos:end]
            pos = end + 1
            if line.rstrip("\r") == "\\.":
                break
        self.pos = min(pos, len(text))


def _is_word_char(char):
    return char.isalnum() or char in "_$" or ord(char) >= 0x80


def _creates_routine(words):
    if words[:1] != ["create"]:
        return False
    rest = words[3:4] if words[1:3] == ["or", "replace"] else words[1:2]
    return rest in (["function"], ["procedure"])


def _without_comments(statement):
    return re.sub(r"--[^\n]*", " ", statement)
