"""HTML to poem text: lines and stanzas survive the markup."""

from parsel import Selector

from qwen_qlora.corpus.html_text import poem_text


def test_poem_text_keeps_lines_and_stanzas_from_markup():
    page = Selector(text=(
        "<div class=a>Раз<br>два<br><br>три</div>"
        "<div class=b><p>Раз<br>  два</p><p>три</p></div>"
        "<pre class=c>  Раз\n  два</pre>"
        "<div class=d><!-- c --><span>Раз</span> <b>два</b><script>x()</script></div>"))
    assert poem_text(page.css(".a")) == "Раз\nдва\n\nтри"
    assert poem_text(page.css(".b")) == "Раз\nдва\n\nтри"
    assert poem_text(page.css(".b p")) == "Раз\nдва\n\nтри"
    assert poem_text(page.css(".c")) == "  Раз\n  два"
    assert poem_text(page.css(".d")) == "Раз два"
    assert poem_text(page.css(".missing")) is None
